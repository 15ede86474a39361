import math


def mean(values):
    """Arithmetic mean of a non-empty sequence."""
    return sum(values) / len(values)


def stdev(values):
    """Sample standard deviation."""
    m = mean(values)
    
