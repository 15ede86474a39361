def mean(values):
    """Return the arithmetic mean of a list of numbers."""
    total = sum(values)
    count = len(values)
    return total / count


def spread(values):
    low = min(values)
    high = max(values)
    return high - low
