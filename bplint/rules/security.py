"""Untrusted model sources: remote code, unpinned hub revisions, pickle, URLs."""

from __future__ import annotations

import ast
import re
from typing import Any, ClassVar

from bplint.analysis import Context, has_star_args
from bplint.registry import ERROR, WARNING, Fix, Location, Rule, register

NOTEBOOK = "notebooks/07_security.ipynb"

HEX_SHA = re.compile(r"^[0-9a-f]{40}$")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")
FILE_SUFFIXES = (".json", ".bin", ".pt", ".pth", ".safetensors", ".ckpt", ".gguf", ".onnx", ".csv",
                 ".txt", ".parquet", ".jsonl", ".py", ".h5", ".msgpack", ".model", ".zip", ".tar",
                 ".gz", ".arrow", ".tsv", ".yaml", ".yml", ".pkl", ".npz", ".npy")
DATASET_BUILDERS = frozenset({
    "csv", "json", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder", "videofolder",
    "webdataset", "sql", "xml", "generator", "spark", "cache", "pdffolder", "niftifolder", "hdf5",
    "lance", "eval", "folder_based_builder",
})
PICKLE_LOADS = frozenset({
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load",
    "cPickle.loads", "dill.load", "dill.loads", "dill.Unpickler", "joblib.load", "cloudpickle.load",
    "cloudpickle.loads", "pandas.read_pickle", "sklearn.externals.joblib.load",
})
# Files of a training checkpoint that hold more than tensors (optimizer, RNG, scheduler states).
NOT_WEIGHTS = ("optimizer", "optim", "rng_state", "scheduler", "training_args", "trainer_state", "scaler")
URL_LOADERS = frozenset({
    "torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url", "torch.hub.download_url_to_file",
    "torch.hub.load",
})
# Calls whose first argument is a local path: a string passed to them is not a hub id in this file.
HUB_LOADERS = frozenset({"from_pretrained", "hf_hub_download", "snapshot_download", "SentenceTransformer",
                         "CrossEncoder", "load_dataset"})
LOCAL_PATH_CALLS = frozenset({
    "save_pretrained", "save_model", "save_to_disk", "makedirs", "mkdir", "Path", "PurePath", "join",
    "exists", "isdir", "isfile", "listdir", "open", "rmtree", "copytree", "scandir",
})


def is_hub_id(value: str) -> bool:
    """True for ``name`` or ``org/name`` (letters, digits, ``-_.``); local paths are not hub ids."""
    if not HUB_ID.match(value) or ".." in value or "--" in value or value.endswith("."):
        return False
    return not value.lower().endswith(FILE_SUFFIXES)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


class _Calls(Rule):
    node_types: ClassVar[tuple[type, ...]] = (ast.Call,)


# smolagents' clients of MCP servers: their trust_remote_code= accepts the server's tools.
MCP_CLIENTS = frozenset({"from_mcp", "MCPClient"})


@register
class TrustRemoteCode(_Calls):
    code = "BPL201"
    name = "trust-remote-code"
    summary = "trust_remote_code=True runs code from the model repository"
    severity = ERROR
    notebook = NOTEBOOK
    triggers = ("trust_remote_code",)
    explanation = """
## What it does
Reports `trust_remote_code=True` in any call (`from_pretrained`, `pipeline`, `load_dataset`,
`AutoConfig`, smolagents' `load_tool`...), unless the same call pins `revision` to a full 40-hex
commit hash (the code was reviewed at that commit). smolagents' MCP clients
(`ToolCollection.from_mcp`, `MCPClient`) are not reported: there the flag accepts the tools that an
MCP server offers, it downloads no code from a repository.

## Why is this bad?
With `trust_remote_code=True`, transformers downloads Python files from the repository and
executes them with your permissions (credentials, data, cluster). Without a pinned commit, the
repository owner (or whoever takes over the account) can change that code at any time.

## Example
```python
model = AutoModel.from_pretrained("org/model", trust_remote_code=True)
```

Use instead:
```python
model = AutoModel.from_pretrained(
    "org/model", trust_remote_code=True, revision="0123456789abcdef0123456789abcdef01234567"
)
```

## How to fix
Prefer an architecture supported natively by transformers (no remote code). Otherwise review the
code and pin `revision` to the full commit hash you reviewed.
"""

    def visit(self, node: ast.Call) -> None:
        if self.ctx.builds_keywords(node) or self.ctx.callee(node)[1] in MCP_CLIENTS:
            return
        kw = self.ctx.kwarg(node, "trust_remote_code")
        if kw is None or self.ctx.value(kw.value) is not True:
            return
        rev_kw = self.ctx.kwarg(node, "revision")
        rev = self.ctx.str_value(rev_kw.value) if rev_kw else None
        if rev and HEX_SHA.match(rev):
            return
        self.report(kw, "trust_remote_code=True executes Python code from the model repository: use a "
                    "natively supported model, or review the code and pin revision to its full commit hash")


@register
class UnpinnedHubRevision(_Calls):
    code = "BPL202"
    name = "unpinned-hub-revision"
    summary = "Hub download without revision pinned to a full commit hash"
    severity = WARNING
    notebook = NOTEBOOK
    triggers = ("from_pretrained", "hf_hub_download", "snapshot_download", "SentenceTransformer",
                "CrossEncoder", "load_dataset", "pipeline", "evaluate")
    explanation = """
## What it does
Reports hub ids (`name` or `org/name`) given as literals (or module-level string constants) to
`from_pretrained`, `hf_hub_download`, `snapshot_download`, transformers' `pipeline(model=...)`,
`SentenceTransformer(...)`, `load_dataset` and `evaluate.load` (a metric is a script from the Hub,
run on your machine) without `revision=` set to a full 40-hex commit hash. transformers'
`pipeline(task)` without a model is reported too: it loads the default model that the installed
transformers release names for the task, which changes between releases. A variable that holds a
pipeline object (a diffusers pipeline, an ASR pipeline) and is called on inputs is not a download.

Not reported: a revision given by a variable or expression (bplint cannot know its value), calls
with `**kwargs` (they may supply `revision`), ids given by variables, local paths (`./x`, `/abs`,
`~/x`, `..`, Windows paths, paths with more than one `/`, file names), `Path(...)`/`os.path.join`
expressions, `load_dataset` builders (`csv`, `json`, `parquet`...), and names the same file saves to
or uses as a path (`save_pretrained("out")`, `output_dir="out"`, `Path(x)`, `os.path.join(x, ...)`,
`os.path.isdir(x)`, `open(x)`).

## Why is this bad?
Branches and tags (`main`, `v1.0`) move: the repository owner can push new weights, a new
tokenizer or new remote code at any time, and your run changes without any change on your side.
A 7-character short sha is ambiguous and is not accepted by every loader.

## Example
```python
model = AutoModel.from_pretrained("bert-base-uncased")
ds = load_dataset("imdb", revision="main")
```

Use instead:
```python
model = AutoModel.from_pretrained("bert-base-uncased", revision="86b5e0934494bd15c9632b12f734a8a67f723594")
ds = load_dataset("imdb", revision="e6281661ce1c48d982bc483cf8a173c1bbeb5d31")
```

## How to fix
Look up the commit on the hub (repository page, "History") or with
`huggingface_hub.model_info(id).sha`, and pass it as `revision=`. Keep the commits in one place
(module constants or a config file).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []
        self.local: set[str] = set()

    def _target(self, node: ast.Call, name: str) -> ast.expr | None:
        """The argument that names the repository, or None when the call is not a hub load."""
        args, ctx = node.args, self.ctx

        def arg(keywords: tuple[str, ...], position: int) -> ast.expr | None:
            for k in keywords:
                kw = ctx.kwarg(node, k)
                if kw is not None:
                    return kw.value
            return args[position] if len(args) > position else None

        if name == "from_pretrained":
            recv = ctx.last_name(node.func.value) if isinstance(node.func, ast.Attribute) else None
            if recv and recv.startswith("PeftModel"):  # PeftModel.from_pretrained(base_model, adapter_id)
                return arg(("model_id",), 1)
            return arg(("pretrained_model_name_or_path",), 0)
        if name in ("hf_hub_download", "snapshot_download"):
            return arg(("repo_id",), 0)
        if name in ("SentenceTransformer", "CrossEncoder"):
            return arg(("model_name_or_path", "model_name"), 0)
        if name in ("load_dataset", "load"):
            return arg(("path",), 0)
        if name == "pipeline":
            return arg(("model",), 1)
        return None

    @staticmethod
    def _hub_call(q: str | None, name: str | None) -> bool:
        if name == "pipeline":  # transformers' pipeline factory, not a pipeline object called on inputs
            return q in ("transformers.pipeline", "pipeline")
        if name == "load":  # metric scripts fetched from the Hub and run
            return q == "evaluate.load"
        return name in HUB_LOADERS

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        q, name = ctx.callee(node)
        if name in LOCAL_PATH_CALLS:
            for a in node.args[:1]:
                v = ctx.str_value(a)
                if v:
                    self.local.add(v)
        out = ctx.kwarg(node, "output_dir")
        out_dir = ctx.str_value(out.value) if out is not None else None
        if out_dir:
            self.local.add(out_dir)
        if name is None or not self._hub_call(q, name) or ctx.opaque_kwargs(node):
            return
        target = self._target(node, name)
        if target is None:
            if name == "pipeline" and not has_star_args(node) and node.args:
                self.pending.append((None, ctx.loc(node), "pipeline() without model= uses the default model "
                                     "that the installed transformers release names for the task (a "
                                     "different model or revision in another release): pass model= and a "
                                     "revision pinned to a full commit hash"))
            return
        repo = ctx.str_value(target)
        if repo is None or not is_hub_id(repo):
            return
        if name == "load_dataset" and repo.lower() in DATASET_BUILDERS:
            return
        rev_kw = ctx.kwarg(node, "revision")
        if rev_kw is None:
            if name == "load":
                msg = (f"metric '{repo}' is a script downloaded from the Hub and run at its latest revision: "
                       "pass revision='<full 40-hex commit sha>'")
            else:
                msg = (f"'{repo}' is downloaded from the Hub without a revision: pass revision='<full 40-hex "
                       "commit sha>' (branches and tags move)")
        else:
            if isinstance(rev_kw.value, ast.Constant) and rev_kw.value.value is None:
                rev = None
            else:
                rev = ctx.str_value(rev_kw.value)
                if rev is None:
                    return  # computed revision: cannot know
                if HEX_SHA.match(rev):
                    return
            kind = "a short sha" if rev and re.fullmatch(r"[0-9a-f]{7,39}", rev) else "a branch or tag"
            msg = (f"'{repo}' is loaded at revision={rev!r}, {kind}, not a commit: pin revision to the full "
                   "40-hex commit sha")
        self.pending.append((repo, ctx.loc(target), msg))

    def finish(self) -> None:
        for repo, loc, msg in self.pending:
            if repo is None or repo not in self.local:
                self.report(loc, msg)


@register
class UnsafeTorchLoad(_Calls):
    code = "BPL203"
    name = "unsafe-torch-load"
    summary = "torch.load without weights_only=True can execute code from the file"
    severity = ERROR
    notebook = NOTEBOOK
    triggers = ("load",)
    explanation = """
## What it does
Reports `torch.load(...)` (also through aliases such as `import torch as th` or
`from torch import load`) without `weights_only=True`, or with `weights_only=False`. A call with
`**kwargs` or a non-literal `weights_only` is not reported.

## Why is this bad?
Without `weights_only=True`, `torch.load` unpickles the file: a crafted checkpoint runs arbitrary
code when loaded. torch < 2.6 defaulted to `weights_only=False`, so code that relies on the default
is unsafe on older installs, and being explicit documents the intent.

## Example
```python
state = torch.load("checkpoint.pt")
```

Use instead:
```python
state = torch.load("checkpoint.pt", weights_only=True)
# better still: safetensors.torch.load_file("model.safetensors")
```

## How to fix
Pass `weights_only=True` (add safe globals with `torch.serialization.add_safe_globals` if your
checkpoint holds custom classes), or store weights as safetensors.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[tuple[ast.Call, Location]] = []
        self.into_state_dict: set[int] = set()  # torch.load calls whose result goes to load_state_dict

    def visit(self, node: Any) -> None:
        name = self.ctx.callee(node)[1]
        if name == "load_state_dict":
            for a in node.args[:1]:
                b = self.ctx.binding(a)  # state = torch.load(...); model.load_state_dict(state)
                self.into_state_dict.add(id(b.expr if b is not None and b.expr is not None else a))
            return
        if self.ctx.callee(node)[0] != "torch.load":
            return
        kw = self.ctx.kwarg(node, "weights_only")
        if kw is None:
            if not self.ctx.opaque_kwargs(node):
                self.pending.append((node, self.ctx.loc(node)))
        elif self.ctx.value(kw.value, None) is False:
            self.report(kw, "torch.load(weights_only=False) can run arbitrary code from the file: use "
                        "weights_only=True or safetensors")

    def _weights_file(self, node: ast.Call) -> bool:
        """The loaded object is clearly a tensor state dict: safe to add weights_only=True."""
        if id(node) in self.into_state_dict:
            return True
        path = self.ctx.str_value(node.args[0]) if node.args else None
        if path is None:
            return False
        base = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
        if not base.endswith((".bin", ".pt", ".pth")) or any(w in base for w in NOT_WEIGHTS):
            return False
        return any(w in base for w in ("pytorch_model", "model", "weights"))

    def finish(self) -> None:
        for node, loc in self.pending:
            parts: list[ast.expr | ast.keyword] = [*node.args, *node.keywords]
            ends = [(p.end_lineno or p.lineno, p.end_col_offset or p.col_offset) for p in parts]
            fix = None
            if ends:
                line, col = max(ends)  # after the last argument
                fix = Fix([(line, col, line, col, ", weights_only=True")], safe=self._weights_file(node),
                          title="add weights_only=True")
            self.ctx.add(self.code, "torch.load() without weights_only=True unpickles the file and can run "
                         "arbitrary code: pass weights_only=True or use safetensors", loc, fix=fix)


@register
class PickleLoad(_Calls):
    code = "BPL204"
    name = "pickle-load"
    summary = "pickle-based load can execute code from the file"
    severity = ERROR
    notebook = NOTEBOOK
    triggers = ("load", "Unpickler", "read_pickle")
    explanation = """
## What it does
Reports loads through pickle and its relatives: `pickle.load/loads/Unpickler`, `dill`, `joblib.load`,
`cloudpickle.load/loads` and `pandas.read_pickle` (aliases are resolved). A round trip of bytes
produced in the same file (`pickle.loads(pickle.dumps(obj))`, or `loads(data)` with
`data = pickle.dumps(...)`) is not reported: it copies an object and reads nothing foreign.

## Why is this bad?
Unpickling calls arbitrary callables named in the file. A downloaded or shared pickle (a
"model.pkl", a cached dataset) runs code with your permissions when loaded.

## Example
```python
with open("model.pkl", "rb") as f:
    model = pickle.load(f)
```

Use instead:
```python
from safetensors.torch import load_file

state = load_file("model.safetensors")
```

## How to fix
Store tensors as safetensors and metadata as JSON. Load pickles only from files you created
yourself, and mark such a line with `# noqa: BPL204` to document the decision.
"""

    node_types = (ast.Call, ast.Assign)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.dumped: set[str] = set()  # names bound to pickle.dumps(...) in this file

    def _is_dumps(self, node: ast.AST | None) -> bool:
        return isinstance(node, ast.Call) and (self.ctx.callee(node)[1] or "") == "dumps" and \
            (self.ctx.callee(node)[0] or "").endswith(("pickle.dumps", "dill.dumps", "cloudpickle.dumps"))

    def visit(self, node: Any) -> None:
        if type(node) is ast.Assign:
            if self._is_dumps(node.value):
                self.dumped.update(t.id for t in node.targets if isinstance(t, ast.Name))
            return
        q = self.ctx.callee(node)[0]
        if q in PICKLE_LOADS:
            arg = node.args[0] if node.args else None
            # a round trip of bytes this code just produced (copying an object) reads nothing foreign
            own = self._is_dumps(arg) or (isinstance(arg, ast.Name) and arg.id in self.dumped)
            if q.endswith("loads") and own:
                return
            self.report(node, f"{q}() executes code embedded in the file: load only files you created, or "
                        "use safetensors/JSON")


@register
class SafetensorsDisabled(_Calls):
    code = "BPL205"
    name = "safetensors-disabled"
    summary = "use_safetensors=False / safe_serialization=False falls back to pickle"
    severity = WARNING
    notebook = NOTEBOOK
    triggers = ("use_safetensors", "safe_serialization")
    explanation = """
## What it does
Reports `use_safetensors=False` (loading) and `safe_serialization=False` (saving) in any call.

## Why is this bad?
Both switch from safetensors (plain tensors, no code) to pickle-based `.bin` checkpoints, which run
code when loaded: the saved files become unsafe for everyone who loads them later.

## Example
```python
model.save_pretrained("out", safe_serialization=False)
```

Use instead:
```python
model.save_pretrained("out")  # safetensors by default
```

## How to fix
Remove the argument (safetensors is the default) or set it to `True`.
"""

    def visit(self, node: ast.Call) -> None:
        if self.ctx.builds_keywords(node):
            return
        for kw in self.ctx.kwargs(node)[0].values():
            if kw.arg in ("use_safetensors", "safe_serialization") and self.ctx.value(kw.value, 0) is False:
                self.report(kw, f"{kw.arg}=False switches to pickle checkpoints that can run code when "
                            "loaded: keep safetensors (remove the argument)")


@register
class WeightsFromUrl(_Calls):
    code = "BPL206"
    name = "weights-from-url"
    summary = "Weights or code loaded from a URL"
    severity = ERROR
    notebook = NOTEBOOK
    triggers = ("hub", "load_url", "model_zoo", "http")
    explanation = """
## What it does
Reports `torch.hub.load_state_dict_from_url`, `torch.utils.model_zoo.load_url` and
`torch.hub.download_url_to_file` (unless `check_hash=True` or a `hash_prefix` is given),
`torch.hub.load` from GitHub (it runs the repository's `hubconf.py`; `source="local"` is not
reported), and `from_pretrained`/`pipeline`/`hf_hub_download` given an `http(s)://` URL.

## Why is this bad?
A URL has no integrity check: whoever controls the server (or the network path) decides which
bytes you load, and pickle-based checkpoints run code when loaded.

## Example
```python
state = torch.hub.load_state_dict_from_url("https://example.com/model.pth")
```

Use instead:
```python
path = hf_hub_download("org/model", "model.safetensors", revision="<40-hex sha>")
state = safetensors.torch.load_file(path)
```

## How to fix
Download from the Hub with a pinned commit, verify a hash (`check_hash=True`), and prefer
safetensors files.
"""

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        q = ctx.callee(node)[0]
        if q in URL_LOADERS:
            if q == "torch.hub.load":
                src = ctx.kwarg(node, "source")
                if src is not None and ctx.str_value(src.value) != "github":
                    return
                self.report(node, "torch.hub.load() downloads and runs hubconf.py from a GitHub repository: "
                            "load weights from a pinned Hub revision or a local safetensors file")
                return
            check = ctx.kwarg(node, "check_hash")
            if (check is not None and ctx.value(check.value) is True) or ctx.kwarg(node, "hash_prefix"):
                return
            self.report(node, f"{q}() loads weights from a URL without integrity check: download from a "
                        "pinned Hub revision and prefer safetensors")
            return
        name = ctx.callee(node)[1]
        if name == "pipeline" and q not in ("transformers.pipeline", "pipeline"):
            return  # a pipeline object called on an input (an audio URL), not the factory
        if name in ("from_pretrained", "pipeline", "hf_hub_download", "snapshot_download"):
            # the repository argument: the first positional one, the second for pipeline(task, model)
            position = 1 if name == "pipeline" else 0
            for arg in [*node.args[position:position + 1], *(kw.value for kw in node.keywords if kw.arg in (
                    "pretrained_model_name_or_path", "model", "repo_id"))]:
                v = ctx.str_value(arg)
                if v and is_url(v):
                    self.report(arg, f"{name}() given a URL: weights from a URL have no integrity check; "
                                "load from a Hub id with a pinned revision or a local directory")
                    return
