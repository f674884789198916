"""The portal adoption board: how far each chart's onboarding has come, who is stuck and why.

- `labels`: stages, channels and stuck reasons with the words the board shows.
- `reasons`: why a chart is stuck, decided at read time (Python and SQL agree).
- `facts`: keeps `ChartAdoption` exact at every commit.
- `board`: the funnel, the trends and the keyset-paged stuck list; CSV and PDF exports.
- `next_steps`: the one-click next step for a stuck chart (resend, other channel, letter...).
"""
