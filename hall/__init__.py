"""The virtual exhibition hall: events, pavilions, booths, and one-to-one meetings."""
