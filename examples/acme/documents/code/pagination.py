def page(items, page, size):
    """Return the 1-based page `page` of `items`."""
    start = page * size
    return items[start:start + size]
