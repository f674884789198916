"""Portal Adoption end to end: an invitation fails, staff see why and send a key by text with one
click, the patient sets up with it, and the board's numbers move."""
