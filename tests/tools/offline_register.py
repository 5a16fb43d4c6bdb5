"""Register the module exactly as Dagger's Python runtime does, but offline.

Run as a subprocess with DAGGER_MAIN_OBJECT set (the runtime sets it from
dagger.json's name). It loads the main object through the `dagger.mod` entry
point (dagger.mod.cli.load_module), builds the type definitions with the SDK's
own Module._typedefs, and replaces only the final `Module.id()` (the one call
that needs an engine) with a capture of the lazy query. Prints JSON:
{"objects": [{"name", "description", "functions": [{"name", "description",
"args": [{"name", "description", "ignore"}], "cache_policy"}]}]}.
"""

import json

import anyio
import dagger
from dagger.mod import cli

captured = {}


async def _capture_id(self):
    captured["module"] = self
    return "offline"


dagger.Module.id = _capture_id


def _chain(obj):
    return [(f.name, dict(f.args)) for f in obj._ctx.selections]


def _function(fn_obj):
    out = {"name": None, "description": None, "args": [], "cache_policy": None}
    for name, args in _chain(fn_obj):
        if name == "function":
            out["name"] = args["name"]
        elif name == "withDescription":
            out["description"] = args["description"]
        elif name == "withCachePolicy":
            policy = args["policy"]
            out["cache_policy"] = getattr(policy, "value", policy)
        elif name == "withArg":
            out["args"].append({"name": args["name"], "description": args.get("description"),
                                "ignore": args.get("ignore")})
    return out


def main():
    mod = cli.load_module()
    anyio.run(mod._typedefs)
    objects = []
    for name, args in _chain(captured["module"]):
        if name != "withObject":
            continue
        obj = {"functions": []}
        for tname, targs in _chain(args["object"]):
            if tname == "withObject":
                obj["name"], obj["description"] = targs["name"], targs.get("description")
            elif tname in ("withFunction", "withConstructor"):
                fn = _function(targs["function"])
                fn["constructor"] = tname == "withConstructor"
                obj["functions"].append(fn)
        objects.append(obj)
    print(json.dumps({"objects": objects}))


if __name__ == "__main__":
    main()
