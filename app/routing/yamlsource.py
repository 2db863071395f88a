"""Reading routes.yaml with line numbers kept, so every error can name its line.

Bounded before anything is built: the parser's events are checked for aliases, expanded
node count and depth first (limits.py), so an alias bomb is refused having read its few
hundred bytes, not after expanding them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from app.routing.errors import ConfigError
from app.routing.interpolate import interpolate
from app.routing.limits import LimitExceeded, check_yaml_shape

Loc = Sequence[int | str]

# libyaml when PyYAML was built with it: a seventh of the pure-Python parser's time.
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """The decoded data (environment references resolved) beside the node tree it came from."""

    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the deepest node `loc` reaches (keys or list indexes).

        A final mapping key resolves to the key's own line: for an unknown key, or one
        whose value is a block starting below it, that is the line to look at.
        """
        node = self.root
        if node is None:
            return None
        key: yaml.Node | None = None
        for part in loc:
            found = _child(node, part)
            if found is None:
                continue  # a pydantic-internal step (union tag, "[key]"): stay put
            key, node = found
        return (key or node).start_mark.line + 1


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node or None, value node) of `part` under `node`."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return (None, node.value[part]) if 0 <= part < len(node.value) else None
    return None


def _walk(node: yaml.Node) -> Iterator[yaml.Node]:
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:  # aliases share nodes; resolve each only once
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((value, key))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _scalar_line(node: yaml.ScalarNode, offset: int) -> int:
    line = node.start_mark.line + 1
    if node.style == "|":  # a literal block's text starts on the line after its `|`
        line += 1 + node.value.count("\n", 0, offset)
    return line


class _Constructor(SafeConstructor):
    """SafeConstructor whose failures on a value (`!!int 0x`, `2020-13-45` read as a date)
    are YAML errors with the value's line, not a bare ValueError from deep inside."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({exc})", node.start_mark
            ) from None


def read_yaml(
    text: str, file: str, env: Mapping[str, str]
) -> tuple[YamlDocument, list[ConfigError]]:
    """Parse `text`, resolving `${VAR}` in every string value; collect every error."""
    try:
        check_yaml_shape(text, _Loader)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except LimitExceeded as exc:
        return YamlDocument(None, None), [ConfigError(file, exc.line, exc.message, exc.message)]
    except yaml.YAMLError as exc:
        return YamlDocument(None, None), [_yaml_error(exc, file)]
    if root is None:
        # An empty file is most often a save caught between truncate and write; taking
        # it as "no routes" would drop every event until the next edit.
        return YamlDocument(None, None), [_same(file, None, "the file is empty")]
    errors: list[ConfigError] = []
    for node in _walk(root):
        if isinstance(node, yaml.MappingNode):
            errors.extend(_duplicate_keys(node, file))
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            node.value, problems = interpolate(node.value, env)
            errors.extend(
                ConfigError(file, _scalar_line(node, p.offset), str(p), p.public) for p in problems
            )
    try:
        data = _Constructor().construct_document(root)
    except yaml.YAMLError as exc:
        return YamlDocument(None, root), [*errors, _yaml_error(exc, file)]
    return YamlDocument(data, root), errors


def _same(file: str, line: int | None, message: str) -> ConfigError:
    """An error whose message quotes nothing from the file, so it is its own public form."""
    return ConfigError(file, line, message, message)


def _yaml_error(exc: yaml.YAMLError, file: str) -> ConfigError:
    # PyYAML's problem text may quote the file (an alias name, a character, a value).
    if isinstance(exc, yaml.constructor.ConstructorError):
        kind = "YAML value or tag that cannot be read"
    else:
        kind = "YAML syntax error"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        cause = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return ConfigError(file, line, f"{kind}: {cause}", kind)
    return ConfigError(file, None, f"YAML error: {exc}", "YAML error")


def _duplicate_keys(node: yaml.MappingNode, file: str) -> Iterator[ConfigError]:
    # YAML silently keeps the last duplicate; in a routing file that hides a mistake.
    seen: set[str] = set()
    for key, _value in node.value:
        if isinstance(key, yaml.ScalarNode):
            line = key.start_mark.line + 1
            if key.value in seen:
                yield ConfigError(file, line, f'duplicate key "{key.value}"', "duplicate key")
            seen.add(key.value)
            if key.tag == "tag:yaml.org,2002:bool" and not key.style:
                # YAML 1.1 reads on/off/yes/no as booleans: a channel named `off` breaks.
                message = "reads as a boolean; quote it"
                yield ConfigError(file, line, f"key {key.value} {message}", f"a key {message}")
