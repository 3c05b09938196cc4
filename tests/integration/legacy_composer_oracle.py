#!/usr/bin/python3
"""Oracle: the legacy KSI daemon's prompt-composition subsystem, re-created in Python.

What the Python daemon at 6a5dddf did for GET_COMPOSITIONS, GET_COMPOSITION, VALIDATE_COMPOSITION,
LIST_COMPONENTS and COMPOSE_PROMPT (spec: legacy-protocol.md §5.23-5.27, §8), and the composition selection
that SPAWN_AGENT used (§8.6). It behaves as the legacy code did because it does the same things the same way:
PyYAML's safe_load for the YAML, Python's eval() for conditions, str()/repr() for rendering, pathlib for path
joining and error-message paths, Python's own exception texts, json.dumps defaults for the wire.

Two places are written out instead of calling pathlib, so that the answer does not depend on the Python
version running the oracle: Path.glob("*.yaml") and Path.rglob("*.md") are re-implemented exactly as Python
3.11's pathlib (the legacy interpreter) did them, with os.scandir (raw readdir order, dot-files included,
case-sensitive match, pre-order walk, symlinked directories not entered). Text files are read as UTF-8 with
universal newlines (the legacy's open()/read_text() with a UTF-8 locale).

Needs PyYAML: on Debian, /usr/bin/python3 with the python3-yaml package.

Usage (the working directory does not matter; the oracle works relative to DIR like the daemon did relative
to its cwd, so DIR is the directory that *contains* prompts/):

    /usr/bin/python3 legacy_composer_oracle.py DIR COMMAND 'JSON_PARAMETERS'
        prints the reply line the legacy daemon sent: {"status": "success", "command": ..., "result": ...}
        or {"status": "error", "error": {"code", "message", "timestamp"}} (json.dumps defaults).
        COMMAND is one of the five composition commands, or SELECT_COMPOSITION (oracle only) with parameters
        {"profile_name", "role", "capabilities", "task"} as SPAWN_AGENT passes them (§5.6 step 1), printing
        {"composition": ..., "fallback_used": ..., "score": ..., "reasons": [...]}.

    /usr/bin/python3 legacy_composer_oracle.py DIR --batch  < requests
        reads one request per line (the exact JSON line a client would send, e.g.
        {"command": "COMPOSE_PROMPT", "version": "2.0", "parameters": {...}}) and writes one reply per line,
        in order. Parsing the raw line with json.loads keeps the legacy's duplicate-key and number semantics.

If a reply cannot be serialised (the legacy then sent nothing, §4.4) the oracle prints
{"no_reply": true, "log": "<why>"}.
"""
import datetime
import fnmatch
import json
import os
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - reported to the caller
    sys.stderr.write("legacy_composer_oracle: PyYAML is missing for %s; install it with "
                     "'DEBIAN_FRONTEND=noninteractive apt-get install -y python3-yaml' "
                     "(scripts/setup does this)\n" % sys.executable)
    sys.exit(3)

COMPOSITION_COMMANDS = ("GET_COMPOSITIONS", "GET_COMPOSITION", "VALIDATE_COMPOSITION", "LIST_COMPONENTS",
                        "COMPOSE_PROMPT")


# --------------------------------------------------------------------------------------------------------
# Directory listing exactly as Python 3.11's pathlib globbing did it.

def _scandir_names(directory):
    """Entries of a directory in raw readdir order, as (name, is_dir, is_symlink)."""
    out = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            out.append((entry.name, is_dir, entry.is_symlink()))
    return out


def _matcher(pattern):
    # pathlib 3.11: re.compile(fnmatch.translate(pattern)).fullmatch, case-sensitive on POSIX.
    return re.compile(fnmatch.translate(pattern)).fullmatch


def glob_children(parent, pattern):
    """Path(parent).glob(pattern) for a one-segment pattern: every entry (file or directory, dot-names
    included) whose name matches, in readdir order."""
    match = _matcher(pattern)
    try:
        entries = _scandir_names(parent)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    return [Path(parent) / name for name, _, _ in entries if match(name)]


def rglob(parent, pattern):
    """Path(parent).rglob(pattern) as in Python 3.11: directories visited in pre-order (a directory's own
    matches before its subdirectories', subdirectories in readdir order, symlinked directories not entered);
    within each directory, matching entries in readdir order."""
    results = []

    def walk(directory):
        results.extend(glob_children(directory, pattern))
        try:
            entries = _scandir_names(directory)
        except PermissionError:
            return
        for name, is_dir, is_symlink in entries:
            if is_dir and not is_symlink:
                walk(Path(directory) / name)

    walk(Path(parent))
    seen = set()
    unique = []
    for p in results:  # pathlib de-duplicated with a set of yielded paths
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


# --------------------------------------------------------------------------------------------------------
# The composer (prompts/composer.py at 6a5dddf).

def read_text(path):
    # Legacy: open(path, 'r') / Path.read_text() with the locale's encoding (UTF-8), universal newlines.
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


class Component:
    def __init__(self, name, source, vars, condition=None):
        self.name = name
        self.source = source
        self.vars = vars
        self.condition = condition


class Composition:
    def __init__(self, name, version, description, author, components, required_context, metadata):
        self.name = name
        self.version = version
        self.description = description
        self.author = author
        self.components = components
        self.required_context = required_context
        self.metadata = metadata


class PromptComposer:
    def __init__(self, base_path="prompts"):
        self.base_path = Path(base_path)
        self.components_path = self.base_path / "components"
        self.compositions_path = self.base_path / "compositions"
        self.components_path.mkdir(parents=True, exist_ok=True)
        self.compositions_path.mkdir(parents=True, exist_ok=True)

    def load_composition(self, composition_name):
        composition_file = self.compositions_path / f"{composition_name}.yaml"
        if not composition_file.exists():
            available = self.list_compositions()
            raise FileNotFoundError(
                f"Composition not found: {composition_file}\n"
                f"Available compositions: {', '.join(available)}"
            )
        with open(composition_file, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
        components = []
        for comp_data in data.get("components", []):
            components.append(Component(
                name=comp_data["name"],
                source=comp_data["source"],
                vars=comp_data.get("vars", {}),
                condition=comp_data.get("condition"),
            ))
        return Composition(
            name=data["name"],
            version=data["version"],
            description=data["description"],
            author=data["author"],
            components=components,
            required_context=data.get("required_context", {}),
            metadata=data.get("metadata", {}),
        )

    def load_component(self, component_path):
        full_path = self.base_path / component_path
        if not full_path.exists():
            parent_dir = full_path.parent
            if parent_dir.exists():
                available = [f.name for f in glob_children(parent_dir, "*.md")]
                raise FileNotFoundError(
                    f"Component not found: {full_path}\n"
                    f"Available in {parent_dir}: {', '.join(available)}"
                )
            raise FileNotFoundError(
                f"Component not found: {full_path}\n"
                f"Directory does not exist: {parent_dir}"
            )
        return read_text(full_path)

    def evaluate_condition(self, condition, context):
        # The local names (self, condition, context, key, value, placeholder) are those of the legacy
        # method: eval() below sees them, as the legacy eval() did.
        if not condition:
            return True
        for key, value in context.items():
            placeholder = f"{{{{{key}}}}}"
            if isinstance(value, str):
                condition = condition.replace(placeholder, f"'{value}'")
            else:
                condition = condition.replace(placeholder, str(value))
        try:
            return eval(condition)
        except:  # noqa: E722  (legacy: a bare except; any error means "include")
            return True

    def substitute_variables(self, text, variables, context):
        all_vars = {**variables, **context}
        for key, value in all_vars.items():
            placeholder = f"{{{{{key}}}}}"
            text = text.replace(placeholder, str(value))
        return text

    def compose(self, composition_name, context):
        composition = self.load_composition(composition_name)
        missing_context = []
        for required_key in composition.required_context.keys():
            if required_key not in context:
                missing_context.append(required_key)
        if missing_context:
            provided_keys = list(context.keys())
            raise ValueError(
                f"Missing required context: {missing_context}\n"
                f"Required: {list(composition.required_context.keys())}\n"
                f"Provided: {provided_keys}"
            )
        prompt_parts = []
        for component in composition.components:
            if not self.evaluate_condition(component.condition, context):
                continue
            try:
                component_content = self.load_component(component.source)
                all_vars = {**component.vars, **context}  # noqa: F841  (legacy computed it for a log line)
                final_content = self.substitute_variables(component_content, component.vars, context)
                prompt_parts.append(final_content)
            except Exception as e:
                raise ValueError(f"Error processing component {component.name} from {component.source}: {e}")
        return "\n\n".join(prompt_parts)

    def list_compositions(self):
        return [f.stem for f in glob_children(self.compositions_path, "*.yaml")]

    def list_components(self):
        return [str(f.relative_to(self.components_path)) for f in rglob(self.components_path, "*.md")]

    def validate_composition(self, composition_name):
        issues = {"missing_components": [], "invalid_conditions": []}
        try:
            composition = self.load_composition(composition_name)
            for component in composition.components:
                component_path = self.base_path / component.source
                if not component_path.exists():
                    issues["missing_components"].append(component.source)
        except Exception as e:
            issues["composition_errors"] = [str(e)]
        return {k: v for k, v in issues.items() if v}


# --------------------------------------------------------------------------------------------------------
# The daemon's command handlers (daemon/command_handler.py at 6a5dddf), lenient mode.

def timestamp():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def success(command, result):
    return {"status": "success", "command": command, "result": result}


def error(code, message):
    return {"status": "error", "error": {"code": code, "message": message, "timestamp": timestamp()}}


def handle_get_compositions(parameters):
    try:
        composer = PromptComposer()
        compositions = composer.list_compositions()
        include_metadata = parameters.get("include_metadata", True)
        category_filter = parameters.get("category")
        result_compositions = {}
        for comp_name in compositions:
            try:
                if include_metadata:
                    composition = composer.load_composition(comp_name)
                    metadata = composition.metadata
                    if category_filter and metadata.get("category") != category_filter:
                        continue
                    result_compositions[comp_name] = {
                        "name": composition.name,
                        "version": composition.version,
                        "description": composition.description,
                        "author": composition.author,
                        "required_context": composition.required_context,
                        "metadata": metadata,
                    }
                else:
                    result_compositions[comp_name] = {"name": comp_name}
            except Exception:
                pass  # legacy: logged a warning and skipped the file
        return success("GET_COMPOSITIONS", {"compositions": result_compositions,
                                            "total": len(result_compositions)})
    except Exception as e:
        return error("GET_COMPOSITIONS_FAILED", str(e))


def handle_get_composition(parameters):
    try:
        name = parameters.get("name")
        composer = PromptComposer()
        composition = composer.load_composition(name)
        comp_dict = {
            "name": composition.name,
            "version": composition.version,
            "description": composition.description,
            "author": composition.author,
            "components": [
                {"name": comp.name, "source": comp.source, "vars": comp.vars, "condition": comp.condition}
                for comp in composition.components
            ],
            "required_context": composition.required_context,
            "metadata": composition.metadata,
        }
        return success("GET_COMPOSITION", {"composition": comp_dict})
    except FileNotFoundError as e:
        return error("COMPOSITION_NOT_FOUND", str(e))
    except Exception as e:
        return error("GET_COMPOSITION_FAILED", str(e))


def handle_validate_composition(parameters):
    try:
        name = parameters.get("name")
        context = parameters.get("context")
        composer = PromptComposer()
        issues = composer.validate_composition(name)
        if issues:
            return success("VALIDATE_COMPOSITION", {"valid": False, "issues": issues})
        try:
            composition = composer.load_composition(name)
            missing_context = []
            for required_key in composition.required_context.keys():
                if required_key not in context:
                    missing_context.append(required_key)
            if missing_context:
                return success("VALIDATE_COMPOSITION", {"valid": False, "missing_context": missing_context,
                                                        "required_context": composition.required_context})
            prompt = composer.compose(name, context)
            return success("VALIDATE_COMPOSITION", {"valid": True, "prompt_length": len(prompt)})
        except Exception as e:
            return success("VALIDATE_COMPOSITION", {"valid": False, "error": str(e)})
    except Exception as e:
        return error("VALIDATE_COMPOSITION_FAILED", str(e))


def handle_list_components(parameters):
    try:
        directory_filter = parameters.get("directory")
        composer = PromptComposer()
        all_components = composer.list_components()
        if directory_filter:
            components = [c for c in all_components if c.startswith(directory_filter)]
        else:
            components = all_components
        by_directory = {}
        for comp in components:
            parts = comp.split("/")
            dir_name = parts[0] if len(parts) > 1 else ""
            if dir_name not in by_directory:
                by_directory[dir_name] = []
            by_directory[dir_name].append(comp)
        return success("LIST_COMPONENTS", {"components": components, "by_directory": by_directory,
                                           "total": len(components)})
    except Exception as e:
        return error("LIST_COMPONENTS_FAILED", str(e))


def handle_compose_prompt(parameters):
    try:
        composition_name = parameters.get("composition")
        context = parameters.get("context")
        composer = PromptComposer()
        prompt = composer.compose(composition_name, context)
        return success("COMPOSE_PROMPT", {"prompt": prompt, "length": len(prompt),
                                          "composition": composition_name})
    except FileNotFoundError as e:
        return error("COMPOSITION_NOT_FOUND", str(e))
    except ValueError as e:
        return error("CONTEXT_VALIDATION_ERROR", str(e))
    except Exception as e:
        return error("COMPOSE_PROMPT_FAILED", str(e))


# --------------------------------------------------------------------------------------------------------
# Composition selection for SPAWN_AGENT (prompts/composition_selector.py via prompts/discovery.py).

def _score_composition(info, role, capabilities, task_description):
    score = 0.0
    reasons = []
    metadata = info["metadata"]
    if role and metadata.get("role"):
        if role.lower() == metadata["role"].lower():
            score += 30
            reasons.append(f"Exact role match: {role}")
        elif role.lower() in metadata.get("compatible_roles", []):
            score += 20
            reasons.append(f"Compatible role: {role}")
    if capabilities:
        comp_caps = metadata.get("capabilities_required", [])
        comp_provides = metadata.get("capabilities_provided", [])
        if comp_caps:
            matching_caps = set(capabilities) & set(comp_caps)
            if matching_caps:
                score += (len(matching_caps) / len(comp_caps)) * 25
                reasons.append("Capability match: " + ", ".join(sorted(matching_caps)))
        if comp_provides:
            useful_caps = set(comp_provides) & set(capabilities)
            if useful_caps:
                score += 10
                reasons.append("Provides useful capabilities: " + ", ".join(sorted(useful_caps)))
    if task_description:
        task_keywords = task_description.lower().split()
        desc_matches = sum(1 for kw in task_keywords if kw in info["description"].lower())
        if desc_matches:
            score += min(desc_matches * 5, 15)
            reasons.append(f"Description matches task ({desc_matches} keywords)")
        comp_tags = [tag.lower() for tag in metadata.get("tags", [])]
        tag_matches = sum(1 for kw in task_keywords if any(kw in tag for tag in comp_tags))
        if tag_matches:
            score += min(tag_matches * 3, 10)
            reasons.append(f"Tags match task ({tag_matches} matches)")
    try:
        if float(info["version"]) >= 2.0:
            score += 5
            reasons.append("Recent version")
    except:  # noqa: E722
        pass
    if len(metadata.get("use_cases", [])) >= 2:
        score += 3
        reasons.append("Well-documented use cases")
    if metadata.get("tested", False):
        score += 2
        reasons.append("Tested composition")
    return score, reasons


def select_composition(parameters):
    """SPAWN_AGENT step 1 (§5.6, §8.6). The legacy selector asked the daemon for GET_COMPOSITIONS (with
    metadata, no category) over the socket, so it scored the JSON form of that reply."""
    profile_name = parameters.get("profile_name")
    role = parameters.get("role") or profile_name
    capabilities = parameters.get("capabilities") or []
    task = parameters.get("task")
    try:
        reply = handle_get_compositions({"include_metadata": True, "category": None})
        if reply["status"] != "success":
            raise RuntimeError(reply["error"]["message"])
        compositions = json.loads(json.dumps(reply["result"]["compositions"]))
        scored = []
        for name, info in compositions.items():
            score, reasons = _score_composition(info, role, capabilities, task)
            if score > 0:
                scored.append((name, score, reasons))
        if scored:
            scored.sort(key=lambda x: x[1], reverse=True)  # stable: ties keep directory order
            name, score, reasons = scored[0]
            return {"composition": name, "fallback_used": False, "score": score, "reasons": reasons}
        return {"composition": "claude_agent_default", "fallback_used": True, "score": 0.0,
                "reasons": ["Fallback: No suitable composition found"]}
    except Exception as e:
        # SPAWN_AGENT: "If the selection raises, the composition is profile_name and fallback_used is false."
        return {"composition": profile_name, "fallback_used": False, "score": None,
                "reasons": [f"Selection raised: {e}"]}


HANDLERS = {
    "GET_COMPOSITIONS": handle_get_compositions,
    "GET_COMPOSITION": handle_get_composition,
    "VALIDATE_COMPOSITION": handle_validate_composition,
    "LIST_COMPONENTS": handle_list_components,
    "COMPOSE_PROMPT": handle_compose_prompt,
    "SELECT_COMPOSITION": select_composition,
}


def run(command, parameters):
    """One command with its parameters (a dict, as json.loads made it); returns the reply object."""
    if not isinstance(parameters, dict):
        raise SystemExit("legacy_composer_oracle: parameters must be a JSON object "
                         "(other shapes are not modelled)")
    return HANDLERS[command](parameters)


def run_request_line(line):
    """A raw request line as a client sends it; returns the reply object (lenient envelope checks)."""
    request = json.loads(line)
    if not isinstance(request, dict):
        raise SystemExit("legacy_composer_oracle: a request must be a JSON object")
    if "command" not in request:
        return {"status": "error", "error": {"code": "INVALID_COMMAND",
                                             "message": "Missing required field: command",
                                             "timestamp": timestamp()}}
    if "version" not in request:
        return {"status": "error", "error": {"code": "INVALID_COMMAND",
                                             "message": "Missing required field: version",
                                             "timestamp": timestamp()}}
    command = request["command"]
    if command not in HANDLERS:
        raise SystemExit(f"legacy_composer_oracle: {command!r} is not a composition command")
    return run(command, request.get("parameters", {}))


def dumps_reply(reply):
    try:
        return json.dumps(reply)
    except (TypeError, ValueError) as e:
        return json.dumps({"no_reply": True, "log": f"Error sending response: {e}"})


def main(argv):
    if len(argv) == 3 and argv[2] == "--batch":
        os.chdir(argv[1])
        for line in sys.stdin.read().splitlines():
            if line.strip():
                sys.stdout.write(dumps_reply(run_request_line(line)) + "\n")
        return 0
    if len(argv) not in (3, 4) or argv[2] not in HANDLERS:
        sys.stderr.write(__doc__)
        return 2
    parameters = json.loads(argv[3]) if len(argv) == 4 else {}
    os.chdir(argv[1])
    sys.stdout.write(dumps_reply(run(argv[2], parameters)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
