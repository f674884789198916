"""Print-ready PDFs (fpdf2): the connection-key letter, the credential sheet and the adoption
funnel sheet for a staff meeting."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

# Unicode fonts from Debian's packages (`make run` and `make test` install them), embedded in
# every PDF (subset) so any name prints: DejaVu Sans for Latin, Greek and Cyrillic scripts
# (fonts-dejavu-core), Droid Sans Fallback for Chinese, Japanese and Korean (fonts-droid-fallback).
FONT_DIR = Path("/usr/share/fonts/truetype")
FONT_FILES = {("Sans", ""): FONT_DIR / "dejavu" / "DejaVuSans.ttf",
              ("Sans", "B"): FONT_DIR / "dejavu" / "DejaVuSans-Bold.ttf",
              ("Fallback", ""): FONT_DIR / "droid" / "DroidSansFallbackFull.ttf"}
SANS = "Sans"


class FontMissing(RuntimeError):
    """A font the letters need is not installed."""


def check_fonts() -> None:
    """Raise FontMissing, naming the Debian package, when a letter font is not installed."""
    missing = [str(path) for path in FONT_FILES.values() if not path.is_file()]
    if missing:
        raise FontMissing("Letters need fonts that are not installed (" + ", ".join(missing) + "). Install "
                          "Debian's fonts-dejavu-core and fonts-droid-fallback (`make run` does).")


def _new_pdf() -> FPDF:
    check_fonts()
    pdf = FPDF(format="Letter", unit="mm")
    for (family, style), path in FONT_FILES.items():
        pdf.add_font(family, style, str(path))
    pdf.set_fallback_fonts(["Fallback"], exact_match=False)
    return pdf


def _letterhead(*, practice: str, phone: str, title: str) -> tuple[FPDF, float]:
    """A Letter page with the practice's name and phone on top: (pdf, text width in mm).

    Page streams are left uncompressed: the page is tiny, and its text stays searchable
    (tests and staff tools can find what it carries).
    """
    pdf = _new_pdf()
    pdf.set_compression(False)
    pdf.set_title(f"{practice}: {title}")
    pdf.set_author(practice)
    pdf.set_margins(25, 25, 25)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(SANS, "B", 16)
    pdf.cell(width, 8, practice, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    pdf.cell(width, 6, f"Phone: {phone}", new_x="LMARGIN", new_y="NEXT")
    return pdf, width


def connection_key_letter(*, practice: str, phone: str, letter_date: str, patient_name: str,
                          address_lines: list[str], key: str, link: str, expires: str) -> bytes:
    """A one-page letter carrying a connection key. Returns the PDF bytes.

    Page streams are left uncompressed: the letter is tiny, and its text stays searchable
    (tests and staff tools can find the key in it).
    """
    pdf, width = _letterhead(practice=practice, phone=phone, title="patient portal connection key")
    pdf.ln(4)
    pdf.cell(width, 6, letter_date, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    for line in [patient_name, *address_lines]:
        pdf.cell(width, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)

    pdf.set_font(SANS, "B", 13)
    pdf.cell(width, 8, "Your patient portal connection key", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    pdf.multi_cell(width, 6,
        f"{practice} has made a connection key for you. With it you can create your patient "
        "portal account and connect it to your chart.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Courier", "B", 28)
    pdf.cell(width, 16, key, border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 10)
    pdf.cell(width, 6, f"This key works once and expires on {expires}.", align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    pdf.set_font(SANS, "B", 11)
    pdf.cell(width, 7, "How to use it", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    steps = [
        f"1. Go to {link}",
        "2. Enter your email address or mobile phone number and click Create Account.",
        "3. Open the message we send you and follow its link.",
        "4. When asked \"Do you have a connection key from the practice?\", choose Yes and enter "
        "the key above (capital or small letters both work).",
        "5. Confirm your last name and date of birth, choose a password, and click Finish.",
    ]
    for step in steps:
        pdf.multi_cell(width, 6, step, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.multi_cell(width, 6,
        f"Questions, or did you not expect this letter? Call {practice} at {phone}. Keep this key "
        "private: anyone who has it, and knows your name and date of birth, could connect to "
        "your chart.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


VALUE_SIZES = (13, 12, 11, 10, 9, 8)


def _boxed_value(pdf: FPDF, value: str, box: float) -> None:
    """`value` in a bordered box `box` mm wide: the largest size at which it fits on one line
    (a long email or portal address must not run past the box), wrapped at the smallest."""
    room = box - 2 * pdf.c_margin
    # Courier (a core font) keeps ASCII easy to read back; anything else needs the embedded font.
    family = "Courier" if value.isascii() else SANS
    for size in VALUE_SIZES:
        pdf.set_font(family, "B", size)
        if pdf.get_string_width(value) <= room:
            pdf.cell(box, 10, value, border=1, new_x="LMARGIN", new_y="NEXT")
            return
    pdf.multi_cell(box, 5, value, border=1, new_x="LMARGIN", new_y="NEXT")


def credential_sheet(*, practice: str, phone: str, sheet_date: str, person_name: str,
                     patient_name: str, portal_url: str, user_id: str, password: str,
                     must_change: bool, expires: str = "") -> bytes:
    """A one-page sheet with new portal credentials, to hand to the patient. Returns PDF bytes.

    Made on request and never stored: the password exists only in this PDF and on the
    staff member's screen.
    """
    pdf, width = _letterhead(practice=practice, phone=phone, title="patient portal sign-in")
    pdf.cell(width, 6, sheet_date, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(SANS, "B", 13)
    pdf.cell(width, 8, "Your patient portal sign-in", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    intro = f"Prepared for {person_name}" if person_name else "Prepared for you"
    if patient_name and patient_name != person_name:
        intro += f", for the chart of {patient_name}"
    pdf.multi_cell(width, 6, intro + ".", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    rows = (("Portal address", portal_url), ("Username", user_id), ("Password", password))
    for label, value in rows:
        pdf.set_font(SANS, "B", 11)
        pdf.cell(40, 10, label, border=1)
        _boxed_value(pdf, value, width - 40)
    pdf.ln(6)

    pdf.set_font(SANS, "B", 11)
    pdf.cell(width, 7, "How to sign in", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    steps = [f"1. Go to {portal_url}", "2. Enter the username and password above and click Sign in."]
    if must_change:
        steps.append("3. You will be asked to choose a new password of your own. Use at least 10 "
                     "characters; a phrase of unrelated words works well.")
    for step in steps:
        pdf.multi_cell(width, 6, step, new_x="LMARGIN", new_y="NEXT")
    if expires:
        pdf.ln(2)
        pdf.multi_cell(width, 6, f"This password works until {expires}. After that, use "
                                         "\"Forgot password\" on the sign-in page.",
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.multi_cell(width, 6,
        f"Keep this sheet private, or destroy it once you have signed in. Questions? Call "
        f"{practice} at {phone}.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def funnel_sheet(*, practice: str, phone: str, period: str, as_of: str,
                 steps: list[tuple[str, int, str, str]]) -> bytes:
    """The portal adoption funnel on one page: a horizontal bar per step, then the same numbers
    as a table. `steps` holds (label, count, percent of charts, percent of the previous step)."""
    pdf, width = _letterhead(practice=practice, phone=phone, title="portal adoption funnel")
    pdf.ln(4)
    pdf.set_font(SANS, "B", 14)
    pdf.cell(width, 8, "Portal adoption funnel", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 11)
    pdf.cell(width, 6, f"{period}; as of {as_of}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    label_w, number_w = 55.0, 35.0
    bar_room = width - label_w - number_w
    largest = max([count for _label, count, _pc, _pp in steps] + [1])
    pdf.set_font(SANS, "", 10)
    for label, count, of_charts, _of_previous in steps:
        pdf.cell(label_w, 8, label)
        x, y = pdf.get_x(), pdf.get_y()
        pdf.set_fill_color(46, 110, 180)
        pdf.rect(x, y + 1.5, max(bar_room * count / largest, 0.3), 5, style="F")
        pdf.set_x(x + bar_room)
        pdf.cell(number_w, 8, f"{count:,} ({of_charts})", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    columns = (("Step", width - 90), ("Charts", 30.0), ("% of charts", 30.0), ("% of previous", 30.0))
    pdf.set_font(SANS, "B", 10)
    for title, w in columns:
        pdf.cell(w, 7, title, border=1)
    pdf.ln()
    pdf.set_font(SANS, "", 10)
    for label, count, of_charts, of_previous in steps:
        cells = (label, f"{count:,}", of_charts, of_previous)
        for (_title, w), text in zip(columns, cells, strict=True):
            pdf.cell(w, 7, text, border=1)
        pdf.ln()
    return bytes(pdf.output())
