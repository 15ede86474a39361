import json
import os


def load_settings(path):
    """Read a JSON settings file; return an empty dict when it does not exist."""