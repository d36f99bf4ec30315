#!/usr/bin/python3
"""Writes the setting names each training framework accepts, read from its own source.

spsim's `--emit` prints launch settings in a framework's vocabulary and `--from-*` reads them
back; every name used is checked against these lists (tests/export/names_test.cc), so a name the
framework does not know cannot be emitted. The lists are generated from mirrors of the
frameworks' repositories with Python's `ast` (nothing is imported, nothing is run):

  megatron-lm.txt      every command-line argument of Megatron-LM's pretrain_gpt.py parser
                       (megatron/training/arguments.py: add_argument calls of the _add_* groups
                       add_megatron_arguments() builds, plus the arguments ArgumentGroupFactory
                       generates from dataclass fields, as megatron/training/argument_utils.py
                       does: --field-name, bools defaulting True as --no-/--disable-, enums and
                       Literals as choices, argparse_meta overrides, exclusions)
  megatron-bridge.txt  every ConfigContainer override key (section.field) of the sections spsim
                       writes (model, train, dataset, ddp, optimizer) and the registered
                       mixed_precision recipes (src/megatron/bridge/training/config.py and the
                       Megatron-LM dataclasses it inherits, at the Megatron-LM commit Bridge pins)
  torchtitan.txt       every TOML key ([section] key) of torchtitan's JobConfig at the last commit
                       that read TOML files (torchtitan/config/job_config.py), with Literal choices
  deepspeed.txt        the DeepSpeed config keys spsim reads or writes, each found in the source
                       (deepspeed/runtime/constants.py, runtime/zero/config.py,
                       runtime/precision_config.py, runtime/tensor_parallel/config.py,
                       deepspeed/__init__.py); a missing one fails this script
  torchrun.txt         not generated: torch.distributed.run's launcher flags, copied by hand from
                       get_args_parser() (its header names the commit)

Line format: NAME KIND CHOICE..., KIND one of flag (takes no value), value (one), list (one
or more), optional (zero or one); or, for deepspeed.txt, a dotted key path.

Usage (mirrors as the `fetch` tool lays them out, each a bare git directory):
  extract_names.py MEGATRON_GIT BRIDGE_GIT TORCHTITAN_GIT DEEPSPEED_GIT OUT_DIR
"""

import ast
import subprocess
import sys

TORCHTITAN_LAST_TOML = "238fa9953e4aec2a62582121564273d7cbb1e9f1"  # parent of 9810191 (TOML removed)


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True,
                          text=True).stdout


def show(repo, commit, path):
    return git(repo, "show", f"{commit}:{path}")


def head(repo):
    return git(repo, "rev-parse", "HEAD").strip()


# ------------------------------------------------------------------------------------------
# Dataclasses and enums read from source.

class Field:
    def __init__(self, name, annotation, default, meta, init):
        self.name, self.annotation, self.default, self.meta, self.init = name, annotation, default, meta, init


def literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return ...  # not a constant


def read_classes(text):
    """name -> (bases, [Field], is_enum, enum members) for every class in `text`."""
    classes = {}
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                 for b in node.bases]
        is_enum = any(b in ("Enum", "IntEnum", "StrEnum") for b in bases)
        fields, members = [], []
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and is_enum:
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        members.append(target.id)
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            default, meta, init = None, {}, True
            has_default = stmt.value is not None
            if has_default and isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", "") == "field":
                default = ...
                for kw in stmt.value.keywords:
                    if kw.arg == "default":
                        default = literal(kw.value)
                    elif kw.arg == "init":
                        init = literal(kw.value) is not False
                    elif kw.arg == "metadata":
                        value = literal(kw.value)
                        if isinstance(value, dict):
                            meta = value.get("argparse_meta", {})
                        elif isinstance(kw.value, ast.Dict):  # metadata with non-constant values
                            for k, v in zip(kw.value.keys, kw.value.values):
                                if literal(k) == "argparse_meta" and isinstance(v, ast.Dict):
                                    meta = {literal(kk): literal(vv) for kk, vv in zip(v.keys, v.values)}
            elif has_default:
                default = literal(stmt.value)
            fields.append(Field(stmt.target.id, stmt.annotation, default, meta, init))
        classes[node.name] = (bases, fields, is_enum, members)
    return classes


def all_fields(classes, name):
    """Fields of `name` with its bases' first (dataclass inheritance order); a redefinition keeps
    the base's position with the subclass's definition."""
    bases, fields, _, _ = classes[name]
    out = {}
    for base in bases:
        if base in classes:
            out.update(all_fields(classes, base))
    for f in fields:
        out[f.name] = f
    return out


def unwrap(annotation):
    """(base name or node, is_list, literal choices) of an annotation, Optional/`| None` removed."""
    node = annotation
    is_list = False
    while True:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [node.left, node.right]
            parts = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
            if len(parts) != 1:
                return "union", is_list, None
            node = parts[0]
            continue
        if isinstance(node, ast.Subscript):
            head_name = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
            inner = node.slice
            if head_name == "Optional":
                node = inner
                continue
            if head_name == "Union":
                elts = [e for e in inner.elts if not (isinstance(e, ast.Constant) and e.value is None)]
                if len(elts) != 1:
                    return "union", is_list, None
                node = elts[0]
                continue
            if head_name in ("list", "List"):
                is_list = True
                node = inner
                continue
            if head_name == "Literal":
                elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                return "literal", is_list, [literal(e) for e in elts]
            return head_name, is_list, None
        if isinstance(node, ast.Name):
            return node.id, is_list, None
        if isinstance(node, ast.Attribute):
            return node.attr, is_list, None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # string annotation
            return unwrap(ast.parse(node.value, mode="eval").body)
        return "?", is_list, None


def kind_of_nargs(nargs):
    if nargs in ("+", "*") or isinstance(nargs, int):
        return "list"
    if nargs == "?":
        return "optional"
    return "value"


def choice_text(choices):
    return [str(c) for c in choices if c is not ... and c is not None]


# ------------------------------------------------------------------------------------------
# Megatron-LM: pretrain_gpt.py's parser.

MEGATRON_CLASS_FILES = [
    "megatron/core/model_parallel_config.py",
    "megatron/core/transformer/transformer_config.py",
    "megatron/core/transformer/enums.py",
    "megatron/core/fault_injector.py",
    "megatron/core/enums.py",
]


def megatron_args(repo, commit):
    arguments = show(repo, commit, "megatron/training/arguments.py")
    files = list(MEGATRON_CLASS_FILES)
    files += [p for p in git(repo, "ls-tree", "-r", "--name-only", commit, "megatron/training/config/").split()
              if p.endswith(".py")]
    classes = {}
    for path in files:
        try:
            classes.update(read_classes(show(repo, commit, path)))
        except subprocess.CalledProcessError:
            pass
    tree = ast.parse(arguments)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    groups = []
    for node in ast.walk(functions["add_megatron_arguments"]):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            groups.append(node.func.id)
    names = {}

    def add(name, kind, choices=()):
        names[name] = (kind, choice_text(choices))

    for group in groups:
        for node in ast.walk(functions[group]):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "add_argument":
                flags = [a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")]
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                action = literal(kw["action"]) if "action" in kw else None
                if action in ("store_true", "store_false", "store_const", "count"):
                    kind = "flag"
                else:
                    kind = kind_of_nargs(literal(kw["nargs"]) if "nargs" in kw else None)
                choices = literal(kw["choices"]) if "choices" in kw else ()
                if choices is ...:
                    choices = ()
                for flag in flags:
                    add(flag, kind, choices)
            # ArgumentGroupFactory(Class, exclude=[...]) inside this group function.
            if isinstance(func, ast.Name) and func.id == "ArgumentGroupFactory":
                cls = node.args[0].id
                exclude = set()
                for k in node.keywords:
                    if k.arg == "exclude":
                        value = k.value
                        if isinstance(value, ast.Name):  # exclude=exclude: the list assigned in the group
                            name = value.id
                            for stmt in ast.walk(functions[group]):
                                if (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)
                                        and stmt.targets[0].id == name):
                                    value = stmt.value
                        exclude = set(literal(value))
                for f in all_fields(classes, cls).values():
                    if f.name in exclude or not f.init:
                        continue
                    base, is_list, lit = unwrap(f.annotation)
                    meta = f.meta if isinstance(f.meta, dict) else {}
                    flag_names = ["--" + f.name.replace("_", "-")]
                    choices = ()
                    if base == "bool" and not is_list:
                        kind = "flag"
                        if f.default is not False:  # store_false: --no-x and --disable-x
                            flag_names = ["--no-" + f.name.replace("_", "-"),
                                          "--disable-" + f.name.replace("_", "-")]
                    elif is_list:
                        kind = "list"
                    else:
                        kind = "value"
                        if lit is not None:
                            choices = lit
                        elif base in classes and classes[base][2]:
                            choices = classes[base][3]
                    if "arg_names" in meta and meta["arg_names"] is not ...:
                        flag_names = list(meta["arg_names"])
                    if "nargs" in meta:
                        kind = kind_of_nargs(meta["nargs"])
                    if meta.get("action") in ("store_true", "store_false"):
                        kind = "flag"
                    if "choices" in meta and meta["choices"] is not ...:
                        choices = meta["choices"]
                    for flag in flag_names:
                        add(flag, kind, choices)
    return names


# ------------------------------------------------------------------------------------------
# Megatron-Bridge ConfigContainer overrides.

def bridge_keys(bridge, bridge_commit, megatron, megatron_commit):
    classes = {}
    for path in ["src/megatron/bridge/training/config.py", "src/megatron/bridge/models/gpt_provider.py",
                 "src/megatron/bridge/models/transformer_config.py"]:
        try:
            classes.update(read_classes(show(bridge, bridge_commit, path)))
        except subprocess.CalledProcessError:
            pass
    # Bridge imports the Megatron-LM classes under aliases (MCore..., MTrain...).
    mlm = {}
    mlm_paths = MEGATRON_CLASS_FILES + ["megatron/core/distributed/distributed_data_parallel_config.py",
                                        "megatron/core/optimizer/optimizer_config.py",
                                        "megatron/core/datasets/gpt_dataset.py",
                                        "megatron/core/datasets/blended_megatron_dataset_config.py"]
    mlm_paths += [p for p in git(megatron, "ls-tree", "-r", "--name-only", megatron_commit,
                                 "megatron/training/config/").split() if p.endswith(".py")]
    for path in mlm_paths:
        try:
            mlm.update(read_classes(show(megatron, megatron_commit, path)))
        except subprocess.CalledProcessError:
            pass
    aliases = {"MCoreDistributedDataParallelConfig": "DistributedDataParallelConfig",
               "MCoreOptimizerConfig": "OptimizerConfig", "MCoreGPTDatasetConfig": "GPTDatasetConfig",
               "MTrainTrainingConfig": "TrainingConfig", "MCoreTransformerConfig": "TransformerConfig"}
    merged = dict(mlm)
    for alias, real in aliases.items():
        merged[alias] = mlm[real]
    # Bridge's own classes shadow Megatron's of the same name, and inherit from the aliases.
    for name, value in classes.items():
        merged[name] = value
    sections = {"model": "GPTModelProvider", "train": "TrainingConfig", "dataset": "GPTDatasetConfig",
                "ddp": "DistributedDataParallelConfig", "optimizer": "OptimizerConfig"}
    keys = {}
    for section, cls in sections.items():
        for f in all_fields(merged, cls).values():
            if not f.init:
                continue
            base, is_list, lit = unwrap(f.annotation)
            choices = lit if lit is not None else ()
            keys[f"{section}.{f.name}"] = ("list" if is_list else "value", choice_text(choices))
    recipes = []
    tree = ast.parse(show(bridge, bridge_commit, "src/megatron/bridge/training/mixed_precision.py"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(getattr(d, "id", "") == "register" for d in node.decorator_list):
            recipes.append(node.name)
    keys["mixed_precision"] = ("value", recipes)
    # Recipes run_recipe.py --recipe accepts for the models spsim ships (their __all__ lists).
    exported = []
    for family in ("llama", "qwen"):
        tree = ast.parse(show(bridge, bridge_commit, f"src/megatron/bridge/recipes/{family}/__init__.py"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
                exported += [n for n in literal(node.value) if n.endswith("_pretrain_config")]
    # run_recipe.py's own flags (scripts/training/run_recipe.py build_parser), --recipe's choices
    # the recipes above.
    tree = ast.parse(show(bridge, bridge_commit, "scripts/training/run_recipe.py"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            kind = "flag" if "action" in kw and literal(kw["action"]) in ("store_true", "store_false") else "value"
            for a in node.args:
                if isinstance(a, ast.Constant) and str(a.value).startswith("-"):
                    keys[a.value] = (kind, [])
    keys["--recipe"] = ("value", sorted(exported))
    return keys


# ------------------------------------------------------------------------------------------
# torchtitan JobConfig (TOML).

def torchtitan_keys(repo, commit):
    classes = read_classes(show(repo, commit, "torchtitan/config/job_config.py"))
    keys = {}

    def walk(cls, prefix):
        for f in all_fields(classes, cls).values():
            base, is_list, lit = unwrap(f.annotation)
            if base in classes and not classes[base][2]:
                walk(base, f"{prefix}{f.name}.")
                continue
            kind = "list" if is_list else ("flag" if base == "bool" else "value")
            keys[prefix + f.name] = (kind, choice_text(lit or ()))

    walk("JobConfig", "")
    return keys


# ------------------------------------------------------------------------------------------
# DeepSpeed: the keys spsim uses, each found where DeepSpeed reads it.

DEEPSPEED_KEYS = [
    # (key path, file, text that must occur there; a tuple: texts that must occur in this order)
    ("train_batch_size", "deepspeed/runtime/constants.py", 'TRAIN_BATCH_SIZE = "train_batch_size"'),
    ("train_micro_batch_size_per_gpu", "deepspeed/runtime/constants.py",
     'TRAIN_MICRO_BATCH_SIZE_PER_GPU = "train_micro_batch_size_per_gpu"'),
    ("gradient_accumulation_steps", "deepspeed/runtime/constants.py",
     'GRADIENT_ACCUMULATION_STEPS = "gradient_accumulation_steps"'),
    ("zero_optimization", "deepspeed/runtime/zero/config.py", 'ZERO_OPTIMIZATION = "zero_optimization"'),
    ("zero_optimization.stage", "deepspeed/runtime/zero/config.py", "stage: ZeroStageEnum = 0"),
    ("zero_optimization.offload_optimizer", "deepspeed/runtime/zero/config.py", "offload_optimizer: Optional"),
    ("zero_optimization.offload_param", "deepspeed/runtime/zero/config.py", "offload_param: Optional"),
    ("bf16", "deepspeed/runtime/constants.py", 'BFLOAT16 = "bf16"'),
    ("bf16.enabled", "deepspeed/runtime/precision_config.py", ("class DeepSpeedBF16Config", "enabled: bool = False")),
    ("fp16", "deepspeed/runtime/constants.py", 'FP16 = "fp16"'),
    ("fp16.enabled", "deepspeed/runtime/precision_config.py", ("class DeepSpeedFP16Config", "enabled: bool = False")),
    ("sequence_parallel_size", "deepspeed/__init__.py", '"sequence_parallel_size" in config'),
    ("data_parallel_size", "deepspeed/__init__.py", '"data_parallel_size" in config'),
    ("tensor_parallel", "deepspeed/__init__.py", 'config.get("tensor_parallel", {})'),
    ("tensor_parallel.autotp_size", "deepspeed/runtime/tensor_parallel/config.py", "autotp_size: int = 0"),
    ("pipeline", "deepspeed/runtime/config.py", 'param_dict.get("pipeline", {})'),
    ("activation_checkpointing", "deepspeed/runtime/activation_checkpointing/config.py",
     "ACT_CHKPT = 'activation_checkpointing'"),
]


def deepspeed_keys(repo, commit):
    keys = {}
    for key, path, needle in DEEPSPEED_KEYS:
        lines = show(repo, commit, path).splitlines()
        line = 0
        for part in needle if isinstance(needle, tuple) else (needle,):
            line = next((i + 1 for i in range(line, len(lines)) if part in lines[i]), None)
            if line is None:
                break
        if line is None:
            sys.exit(f"extract_names.py: DeepSpeed key {key}: '{needle}' not found in {path} @ {commit}")
        keys[key] = f"{path}:{line}"
    return keys


def write(path, header, entries):
    with open(path, "w") as out:
        for line in header:  # embed.cmake reads lines as CMake lists: no ';' or '[' in them
            assert ";" not in line and "[" not in line, line
            out.write(f"# {line}\n")
        for name in sorted(entries):
            kind, choices = entries[name]
            out.write(" ".join([name, kind, *choices]) + "\n")


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    megatron, bridge, torchtitan, deepspeed, out = sys.argv[1:]
    mlm_commit = head(megatron)
    write(f"{out}/megatron-lm.txt",
          [f"Megatron-LM pretrain_gpt.py arguments: NVIDIA/Megatron-LM@{mlm_commit}",
           "megatron/training/arguments.py (add_megatron_arguments) + dataclass fields via "
           "megatron/training/argument_utils.py ArgumentGroupFactory",
           "generated by src/export/names/extract_names.py. Line: NAME KIND CHOICE..."],
          megatron_args(megatron, mlm_commit))
    bridge_commit = head(bridge)
    pinned = git(bridge, "ls-tree", bridge_commit, "3rdparty/Megatron-LM").split()[2]
    write(f"{out}/megatron-bridge.txt",
          [f"Megatron-Bridge ConfigContainer overrides: NVIDIA-NeMo/Megatron-Bridge@{bridge_commit}",
           f"src/megatron/bridge/training/config.py, models/gpt_provider.py, training/mixed_precision.py,"
           f" inherited fields from NVIDIA/Megatron-LM@{pinned} (Bridge's 3rdparty/Megatron-LM submodule)",
           "-x/--x: flags of scripts/training/run_recipe.py, --recipe's choices: the *_pretrain_config recipes "
           "src/megatron/bridge/recipes/{llama,qwen}/__init__.py export",
           "generated by src/export/names/extract_names.py. Line: KEY KIND CHOICE..."],
          bridge_keys(bridge, bridge_commit, megatron, pinned))
    write(f"{out}/torchtitan.txt",
          [f"torchtitan TOML keys: pytorch/torchtitan@{TORCHTITAN_LAST_TOML} torchtitan/config/job_config.py",
           "(the last commit reading TOML files: 9810191 of 2026-02-23 moved run configuration to Python",
           f" functions with renamed fields, e.g. at {head(torchtitan)[:12]} training.seq_len is max_context_length)",
           "generated by src/export/names/extract_names.py. Line: SECTION.KEY KIND CHOICE..."],
          torchtitan_keys(torchtitan, TORCHTITAN_LAST_TOML))
    ds_commit = head(deepspeed)
    keys = deepspeed_keys(deepspeed, ds_commit)
    with open(f"{out}/deepspeed.txt", "w") as f:
        f.write(f"# DeepSpeed config keys spsim reads or writes: deepspeedai/DeepSpeed@{ds_commit}\n")
        f.write("# generated by src/export/names/extract_names.py. Line: KEY FILE:LINE where DeepSpeed reads it\n")
        for key in sorted(keys):
            f.write(f"{key} {keys[key]}\n")


if __name__ == "__main__":
    main()
