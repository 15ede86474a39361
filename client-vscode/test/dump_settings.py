"""Print the server's declared settings (caveat/server/settings.py) as JSON, for the parity test.

Loads the module by path so that the check needs neither the server's dependencies nor an
installed caveat: settings.py uses the standard library only.
"""

import dataclasses
import importlib.util
import json
import pathlib
import sys

path = pathlib.Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("caveat_settings_under_test", path)
assert spec is not None and spec.loader is not None
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
json.dump([dataclasses.asdict(s) for s in module.settings_schema()], sys.stdout)
