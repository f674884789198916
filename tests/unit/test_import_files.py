"""Uploaded import files: the name staff read."""

from portal_app.services import import_files


def test_the_shown_name_has_no_folder_no_control_and_no_bidi_characters():
    assert import_files.display_name("C:\\exports\\pat\u202eients\u202c.csv\x07") == "patients.csv"
    assert import_files.display_name("\u2066\u2069") == "upload"
