"""Colours, spacing and the style dicts that pages share: change the look here, once.

Contrast ratios are against white unless said (WCAG AA asks 4.5:1 for text, 3:1 for control
borders). The muted grey is #444 everywhere: it passes on white and on every light background here.
"""

from __future__ import annotations

# ---- colours ---------------------------------------------------------------------------------

LINK_COLOR = "#0b4f94"   # 8.2:1 (7.4:1 on HEAD_BG_STRONG)
MUTED = "#444"           # 9.7:1, 8.3:1 on GROUP_BG: secondary text (hints, captions, "None")
TEXT_SOFT = "#333"       # 12.6:1
INK = "#111"             # text on the tinted notice boxes
ERROR_COLOR = "#b3261e"  # 6.5:1
OK_COLOR = "#1a7f37"     # 5.1:1
WARN_COLOR = "#8a4b00"   # 6.8:1
CONTROL_BORDER = "#767676"  # 4.5:1: the edge of inputs and selects
LINE = "#d0d7de"         # section frames and compact table rules
PANEL_LINE = "#ccc"      # panel frames, page header rules, portal table rules
LIGHT_LINE = "#ddd"      # staff list rules
HEAD_BG = "#f6f8fa"      # compact table headers, code blocks
HEAD_BG_STRONG = "#f0f3f6"  # staff list headers
GROUP_BG = "#e8eef5"     # group rows in a staff list
PANEL_BG = "#fafbfc"     # a progress panel

# ---- text and links --------------------------------------------------------------------------

FOCUS_RING = {"outline": f"3px solid {LINK_COLOR}", "outline_offset": "2px"}
LINK = {"color": LINK_COLOR, "text_decoration": "underline"}
PAGE_LINK = {**LINK, "font_weight": "600"}  # a link that stands on its own line ("Back to sign in")
FOCUSABLE_LINK = {**LINK, "_focus_visible": FOCUS_RING}
LINK_BUTTON = {"background": "none", "border": "none", "padding": "0", "color": LINK_COLOR,
               "text_decoration": "underline", "cursor": "pointer", "font": "inherit", "_focus_visible": FOCUS_RING}
# Text people typed (a reason, a message, a pasted link) may hold a word longer than the page:
# break it anywhere rather than widen the page. The page frames (components/layout.py) set it,
# so every page inherits it; min-content sizing then never grows a grid, flex row or table past
# the window.
USER_TEXT = {"overflow_wrap": "anywhere"}
HINT = {"color": MUTED, "font_size": "0.85em", "margin": "0.2em 0 0"}
EMPTY = {"color": MUTED, "font_style": "italic"}

# For labels that must exist for assistive technology but not take space on screen.
VISUALLY_HIDDEN = {
    "position": "absolute", "width": "1px", "height": "1px", "padding": "0", "margin": "-1px",
    "overflow": "hidden", "clip": "rect(0, 0, 0, 0)", "white_space": "nowrap", "border": "0",
}

# ---- form controls ---------------------------------------------------------------------------

LABEL = {"display": "block", "font_weight": "600", "margin_bottom": "0.25em"}
# Fields show the ring whenever focus is in them: a date field's focus moves through its inner
# month, day, year and calendar button, and on the button the browser's own ring does not show.
FIELD_FOCUS = {"&:focus, &:focus-within": FOCUS_RING}
INPUT = {"width": "100%", "padding": "0.5em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px",
         "font_size": "1em", **FIELD_FOCUS}
CONTROL = {"padding": "0.45em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px",
           "font_size": "1em", "background": "white", **FIELD_FOCUS}
SELECT = {"padding": "0.45em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px", **FIELD_FOCUS}
DISABLED_BG = "#f0f0f0"
# A form's fieldset that disables every control for view-only users, without a frame of its own.
DISABLED_FIELDSET = {"border": "none", "padding": "0", "margin": "0",
                     "& input:disabled": {"background": DISABLED_BG, "color": TEXT_SOFT}}
CHECK_ROW = {"display": "flex", "align_items": "center", "gap": "0.5em"}
FIELD = {"margin_bottom": "1em", "max_width": "28em"}

# ---- boxes -----------------------------------------------------------------------------------


def section_box(max_width: str) -> dict:
    """A framed section of a staff page (the chart's panels, Portal Account Setup)."""
    return {"border": f"1px solid {LINE}", "border_radius": "8px", "padding": "1em 1.2em",
            "margin_bottom": "1.2em", "max_width": max_width}


# A light frame around a part of a page (a queue, a form's group, a job's progress).
PANEL = {"border": f"1px solid {PANEL_LINE}", "border_radius": "8px", "padding": "0.8em 1em", "margin_bottom": "1em"}
SECTION = section_box("60em")
NARROW_SECTION = section_box("46em")

# ---- tables ----------------------------------------------------------------------------------
# Three families, kept as they look today: the big staff lists (onboarding, User Management,
# My Tasks), the compact tables inside a section (chart, Portal Account Setup) and the logs
# (Audit Log, Outbox, Setup).

CELL = {"padding": "0.45em 0.7em", "border_bottom": f"1px solid {LIGHT_LINE}", "text_align": "left",
        "vertical_align": "top"}
HEAD = {**CELL, "background": HEAD_BG_STRONG, "font_weight": "700", "border_bottom": "2px solid #999",
        "white_space": "nowrap"}
COMPACT_CELL = {"padding": "0.4em 0.55em", "border_bottom": f"1px solid {LINE}", "text_align": "left",
                "vertical_align": "top"}
COMPACT_HEAD = {**COMPACT_CELL, "background": HEAD_BG}
LOG_CELL = {"padding": "0.45em 0.6em", "border_bottom": f"1px solid {LINE}", "text_align": "left",
            "vertical_align": "top"}
LOG_HEAD = {**LOG_CELL, "background": HEAD_BG}
SETUP_CELL = {**LOG_CELL, "border_bottom": f"1px solid {LIGHT_LINE}"}  # Setup's tables: headers look like cells
NOWRAP = {"white_space": "nowrap"}

CAPTION = {"text_align": "left", "color": MUTED, "padding_bottom": "0.4em"}
BOLD_CAPTION = {"text_align": "left", "font_weight": "600", "margin_bottom": "0.3em"}
HIDDEN_CAPTION = {"position": "absolute", "left": "-999px"}
