"""Which patients of the onboarding list are ticked for a bulk "Enable and invite".

A mixin of `OnboardingState` (state/onboarding.py). The selection is patient ids only; the
handlers change nothing on the server (the bulk job checks access when it starts).
"""

from __future__ import annotations

import reflex as rx

from portal_app.services import bulk
from portal_app.state.focus import focus_later
from portal_app.state.inputs import as_bool, as_id

SELECT_PAGE_ID = "select-page"
TOO_MANY = (f"At most {bulk.MAX_SELECTED} patients can be selected; use "
            "“Enable and invite all matching” instead.")


class OnboardingSelection(rx.State, mixin=True):
    """The ticked rows; the using state has `rows` and `bulk_error`."""

    selected_ids: list[int] = []
    # Checkboxes are uncontrolled, so a click shows at once; when the server changes the
    # selection (select page, clear, after a job) this number changes and they are redrawn.
    selection_epoch: int = 0

    def _set_selection(self, ids: list[int]) -> None:
        """Change the selection from the server: the checkboxes are drawn afresh."""
        self.selected_ids = ids
        self.selection_epoch += 1

    @rx.event
    def toggle_selected(self, patient_id: int, checked: bool):
        """One row's checkbox (it has already changed in the browser)."""
        patient_id = as_id(patient_id)
        if as_bool(checked) and patient_id and patient_id not in self.selected_ids:
            if len(self.selected_ids) >= bulk.MAX_SELECTED:
                self.bulk_error = TOO_MANY
                self.selection_epoch += 1  # undo the tick the browser already drew
                return
            self.selected_ids = [*self.selected_ids, patient_id]
        elif not as_bool(checked):
            self.selected_ids = [i for i in self.selected_ids if i != patient_id]

    @rx.event
    def toggle_page(self, checked: bool):
        """"Select all on this page"."""
        on_page = [row.id for row in self.rows]
        if as_bool(checked):
            extra = [i for i in on_page if i not in self.selected_ids]
            self._set_selection((self.selected_ids + extra)[:bulk.MAX_SELECTED])
        else:
            self._set_selection([i for i in self.selected_ids if i not in on_page])
        return focus_later(SELECT_PAGE_ID)

    @rx.event
    def clear_selection(self):
        self._set_selection([])

    @rx.var
    def selected_count(self) -> int:
        return len(self.selected_ids)

    @rx.var
    def page_all_selected(self) -> bool:
        return bool(self.rows) and all(row.id in self.selected_ids for row in self.rows)
