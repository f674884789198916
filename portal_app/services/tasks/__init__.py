"""My Tasks: the Patient Portal queue, its items, forwarding and the Communication queue.

Who may do what follows the seed's two queue permissions (`permissions.queue_access`):

- FULL ("Task - Patient Portal - List" and "Task - Patient Portal"): the Patient Portal Review
  list, open any item, reply, decide appointment requests, merge intake changes, mark reviewed,
  forward.
- LIMITED ("Task - Patient Portal" only): "Patient Portal" shows in My Tasks with its count, but
  the list is refused with a security message. An item forwarded to the user (an open forward)
  opens from Communication and can be *answered*: reply to a message, schedule or decline an
  appointment request (both send a note back to the patient), view and download its documents,
  and mark the forward "Done". Answering does not include changing the chart (merging intake
  changes), marking the item reviewed or forwarding it on: those stay with full-access users.
- LIST_ONLY ("Task - Patient Portal - List" only): the list and counts, but items do not open.
- NONE: no My Tasks at all.

Every function re-reads the user's levels from the database, so a role change applies at once.
The kind-specific detail (threads, intake changes, documents, appointment requests) lives in
the area services; this package checks access and then calls them.

Modules: `access` (the rule above, per user and per item), `counts` (the counters), `review`
(the two lists and their paging), `items` (open an item, its detail and documents), `actions`
(answer, merge, mark reviewed or done, forward), `labels` (how items and patients read).
Callers use the names below: `from portal_app.services import tasks`, then `tasks.review_page`.
"""

from portal_app.services.tasks.access import (
    GONE,
    ITEM_REFUSED,
    LIST_ONLY_REFUSED,
    MANAGE_REFUSED,
    NO_QUEUE,
    QUEUE_REFUSED,
    access_for,
)
from portal_app.services.tasks.actions import (
    StaffOption,
    UnmergedChanges,
    decide_appointment,
    forward,
    forward_targets,
    keep_pending,
    mark_done,
    mark_reviewed,
    merge_all,
    merge_change,
    reply,
)
from portal_app.services.tasks.counts import MyTasks, month_start, my_tasks, review_counts
from portal_app.services.tasks.items import (
    ItemView,
    download_document,
    item_appointment,
    item_changes,
    item_document_content,
    item_documents,
    item_posts,
    item_view,
    open_item,
    preview_document,
)
from portal_app.services.tasks.review import (
    ARRANGE_DATE,
    ARRANGE_PATIENT,
    ARRANGE_REQUEST,
    ARRANGEMENTS,
    PAGE_SIZE,
    CommunicationPage,
    CommunicationRow,
    ReviewPage,
    ReviewRow,
    communication_page,
    review_page,
)

__all__ = [
    "ARRANGEMENTS", "ARRANGE_DATE", "ARRANGE_PATIENT", "ARRANGE_REQUEST", "GONE", "ITEM_REFUSED",
    "LIST_ONLY_REFUSED", "MANAGE_REFUSED", "NO_QUEUE", "PAGE_SIZE", "QUEUE_REFUSED", "CommunicationPage",
    "CommunicationRow", "ItemView", "MyTasks", "ReviewPage", "ReviewRow", "StaffOption", "UnmergedChanges",
    "access_for",
    "communication_page", "decide_appointment", "download_document", "forward", "forward_targets", "keep_pending",
    "item_appointment", "item_changes", "item_document_content", "item_documents", "item_posts", "item_view",
    "mark_done", "mark_reviewed", "merge_all", "merge_change", "month_start", "my_tasks", "open_item",
    "preview_document", "reply", "review_counts", "review_page",
]
