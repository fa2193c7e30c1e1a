#!/usr/bin/env python3
"""The contract documents' one converter (python3 and python3-yaml).

    python3 scripts/contracts.py openapi-json        # writes docs/openapi.json
    python3 scripts/contracts.py check               # fails when it is stale

docs/openapi.yaml is the OpenAPI document people edit; the server answers it
as JSON at GET /openapi.json, compiled in from docs/openapi.json (the build
needs no YAML tool, so the JSON is kept in the tree).  `check`, run by `make
contracts`, fails with a diff's first lines when docs/openapi.json is not
exactly what `openapi-json` would write from the YAML.

The JSON is indented (diffs of it stay readable) and keeps the YAML's key
order; YAML anchors and merge keys are resolved.
"""

import difflib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAML_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
JSON_PATH = os.path.join(ROOT, "docs", "openapi.json")


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        sys.exit("contracts.py: python3-yaml is missing (apt-get install python3-yaml)")

    # YAML 1.1 reads 'on'/'yes' as booleans and a bare 2020-01-01 as a date;
    # every value the documents mean as text is quoted, but dates must stay text.
    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def openapi_json_text():
    doc = load_yaml(YAML_PATH)
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    want = openapi_json_text()
    if cmd == "openapi-json":
        with open(JSON_PATH, "w", encoding="utf-8") as f:
            f.write(want)
        print("contracts.py: wrote docs/openapi.json from docs/openapi.yaml")
        return 0
    if cmd == "check":
        try:
            with open(JSON_PATH, encoding="utf-8") as f:
                have = f.read()
        except FileNotFoundError:
            have = ""
        if have == want:
            print("contracts.py: docs/openapi.json is docs/openapi.yaml")
            return 0
        diff = difflib.unified_diff(have.splitlines(), want.splitlines(),
                                    "docs/openapi.json", "from docs/openapi.yaml", lineterm="")
        print("contracts.py: docs/openapi.json is stale; run "
              "`python3 scripts/contracts.py openapi-json` and commit it:")
        for i, line in enumerate(diff):
            if i >= 40:
                print("…")
                break
            print(line)
        return 1
    print(__doc__.strip())
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
