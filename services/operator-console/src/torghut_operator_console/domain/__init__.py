"""The console's pure core: what a message means on the page, the book a fill moves, a control command."""
