"""An inventory of every event handler a browser (or a crafted websocket frame) can call.

Each handler either names its guard (`staff_action`, `portal_action`, `staff_page_load`,
`portal_page_load` in state/actions.py) or is listed below with the reason it needs none. A new
handler that is neither fails here until it is guarded or listed, so no handler reaches patient
data because someone forgot the check.
"""

from __future__ import annotations

import inspect

import reflex as rx

import portal_app.portal_app  # noqa: F401  (registers every page and so every state)

# Handlers that read or write no data: they change what this tab shows (a dialog, a field as
# typed, a tick, a step of a wizard whose every later action is guarded). Checked below: none
# of them calls a service.
SCREEN_ONLY = {
    "ChartDocumentsState.set_note", "DocumentsState.set_note",
    "ChartState.toggle_force_change", "ChartState.toggle_set_password",
    "ConnectWizardState.answer_owner", "ConnectWizardState.set_owner_relationship",
    "ConnectWizardState.back", "ConnectWizardState.close_wizard", "ConnectWizardState.confirm_patient",
    "ConnectWizardState.reset_wizard", "ConnectWizardState.set_create_address",
    "ConnectWizardState.set_create_channel", "ConnectWizardState.set_key_address",
    "ConnectWizardState.set_key_channel", "ConnectWizardState.set_open", "ConnectWizardState.set_verified",
    "ConnectWizardState.submit_requested_by",
    "ConnectionsState.set_disconnect_open", "ConnectionsState.set_void_open",
    "HomeState.clear_view",
    "LoginState.cancel", "LoginState.toggle_recovery", "StaffLoginState.cancel", "StaffLoginState.toggle_recovery",
    "PortalTwoStepState.cancel",
    "OnboardingState.clear_selection", "OnboardingState.dismiss_job", "OnboardingState.set_bulk_dialog_open",
    "OnboardingState.set_bulk_resend", "OnboardingState.set_bulk_confirm_text",
    "OnboardingState.set_confirm_open", "OnboardingState.toggle_page", "OnboardingState.toggle_selected",
    "OutboxState.close_body", "OutboxState.set_body_open",
    "PatientImportState.set_upload_progress",
    "PortalAccountsState.done_credentials", "PortalAccountsState.forget_credentials",
    "PortalAccountsState.password_copied",
    "PortalAccountsState.set_dialog_open", "PortalUsersState.set_confirm_open",
    "RolesState.cancel_delete", "StaffUsersState.forget_password",
    "TaskItemState.cancel_forward", "TaskItemState.close_preview", "TaskItemState.keep_chart_value",
    "TaskItemState.set_booked_date", "TaskItemState.set_booked_location", "TaskItemState.set_booked_provider",
    "TaskItemState.set_booked_time", "TaskItemState.set_decision_note", "TaskItemState.set_forward_note",
    "TaskItemState.set_forward_to", "TaskItemState.set_reply_text",
}

# Before anyone is signed in: sign-in, forgot password, and the /setup links. They answer the
# same whether or not an account exists, and each checks its link or key itself.
PUBLIC = {
    "LoginState.load", "LoginState.sign_in", "ForgotState.load", "ForgotState.request_link",
    "StaffLoginState.check_signed_in", "StaffLoginState.sign_in",
    # The second step of a sign-in: a challenge kept server-side from a right password is the
    # credential (state/two_step.py); no session exists yet.
    "StaffLoginState.submit_code", "StaffLoginState.submit_enrolment", "StaffLoginState.finish",
    "LoginState.submit_code", "LoginState.submit_enrolment", "LoginState.finish",
    "SetupState.load", "SetupState.create_account", "SetupState.save_password", "SetupState.send_new_link",
    "CreateAccountState.load", "CreateAccountState.create_account", "CreateAccountState.answer_has_key",
    "CreateAccountState.submit_key", "CreateAccountState.submit_details", "CreateAccountState.finish",
    "CreateAccountState.send_fresh_verification", "CreateAccountState.start_over",
    "PracticeHeaderState.load",  # the practice's name for the header, as on every letter
}

# The session itself: signing out needs no permission; switching charts and changing one's own
# password (the one page a user who must change it may use) check the session in the handler.
SESSION = {
    "StaffSessionState.sign_out", "PortalSessionState.portal_sign_out", "PortalSessionState.switch_chart",
    "StaffPasswordState.load", "StaffPasswordState.change_password",
    # The idle timer (state/idle.py): look the tab's own session up again, or end it.
    "StaffIdleState.keep_alive", "StaffIdleState.sign_out_idle",
    "PortalIdleState.keep_alive", "PortalIdleState.sign_out_idle",
}

# Background jobs: they may touch vars only inside `async with self`, so they check access
# there (the job was started by a guarded handler).
BACKGROUND = {"OnboardingState.run_bulk", "OnboardingState.follow_job",
              # The upload is a background handler because Reflex streams its chunks only to one.
              "PatientImportState.upload", "PatientImportState.run_pass", "PatientImportState.follow_job"}

# Loads that follow another load: a chart section (connections, documents) loads after the
# chart's own guarded load, which has already redirected or said why; it checks the permission
# again and stays quiet. The home page's form to-dos load for any chart, with or without Forms.
FOLLOW_ON_LOADS = {"ChartDocumentsState.load", "ConnectionsState.load", "FormTodosState.load"}

LISTED = SCREEN_ONLY | PUBLIC | SESSION | BACKGROUND | FOLLOW_ON_LOADS


def _our_handlers() -> dict[str, object]:
    """'State.handler' -> the handler's function, for every state of the app."""
    found: dict[str, object] = {}
    stack = [rx.State]
    while stack:
        state = stack.pop()
        for sub in state.get_substates():
            for name, handler in sub.event_handlers.items():
                if getattr(handler.fn, "__module__", "").startswith("portal_app."):
                    found[f"{sub.__name__}.{name}"] = handler.fn
            stack.append(sub)
    return found


def test_every_handler_is_guarded_or_listed_with_its_reason():
    handlers = _our_handlers()
    assert len(handlers) > 150
    unguarded = {name for name, fn in handlers.items() if not getattr(fn, "__guard__", "")}
    assert sorted(unguarded - LISTED) == []  # guard it, or list it above with the reason
    assert sorted(LISTED - unguarded) == []  # listed but guarded (or gone): take it off the list


def test_guards_name_what_they_check():
    kinds = {getattr(fn, "__guard__", "").split(":")[0] for fn in _our_handlers().values()} - {""}
    assert kinds <= {"staff", "portal", "staff-page", "portal-page"}


def test_screen_only_handlers_call_no_service():
    handlers = _our_handlers()
    for name in sorted(SCREEN_ONLY):
        source = inspect.getsource(handlers[name])
        assert "call(" not in source and "services" not in source, name
