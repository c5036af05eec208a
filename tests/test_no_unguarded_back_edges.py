"""No loop inside a ``try`` or ``with`` of shmring can let a signal handler's
exception skip that ``try``'s except/finally or the ``with``'s exit.

CPython 3.12 and later leave a loop's back edge (JUMP_BACKWARD, where the
interpreter runs pending signal handlers) out of the enclosing try's
exception table (gh-108214). A KeyboardInterrupt raised there leaves the
function as if the try were not there: a half-read message is dropped, a
``busy`` flag stays set, a lock stays held. shmring keeps every such loop in
a function of its own; this test reads the bytecode of every module to keep
it so on the interpreter it runs on.
"""

import ast
import dis
import pathlib
import sys
import types

import pytest

import shmring

pytestmark = pytest.mark.skipif(
    not hasattr(dis, "_parse_exception_table"), reason="exception tables came with CPython 3.11"
)

NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _guarded_spans(scope) -> list:
    """(first, last, try line) of each try/with body directly in ``scope``."""
    spans = []
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, NESTED_SCOPES):
            continue  # its own code object, checked on its own
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            parts = [node.body, node.orelse] + ([h.body for h in node.handlers] if node.finalbody else [])
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            parts = [node.body]
        else:
            continue
        spans += [(part[0].lineno, part[-1].end_lineno, node.lineno) for part in parts if part]
    return spans


def _scopes(tree) -> dict:
    """The AST node of each function, by the first line its code object reports."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            found[(first, node.name)] = node
    return found


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _unguarded_back_edges(path: pathlib.Path) -> list:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    scopes = _scopes(tree)
    found = []
    for code in _code_objects(compile(text, str(path), "exec")):
        scope = tree if code.co_name == "<module>" else scopes.get((code.co_firstlineno, code.co_name))
        spans = _guarded_spans(scope) if scope is not None else []
        if not spans:
            continue
        table = dis._parse_exception_table(code)
        instructions = list(dis.get_instructions(code))
        for ins in instructions:
            if ins.opname != "JUMP_BACKWARD" or any(e.start <= ins.offset < e.end for e in table):
                continue
            # A loop inside the try: the jump and the loop's head both lie in its body
            # (a loop around a try jumps back after the try is over, which is fine).
            line, head = _line(instructions, ins.offset), _line(instructions, ins.argval)
            for first, last, try_line in spans:
                if line is not None and head is not None and first <= line <= last and first <= head <= last:
                    found.append(f"{path.name}:{line} in {code.co_name} (the try/with of line {try_line})")
    return found


def _line(instructions, offset: int):
    """The source line of the first instruction at or after ``offset`` that has one."""
    for ins in instructions:
        if ins.offset >= offset and ins.positions and ins.positions.lineno:
            return ins.positions.lineno
    return None


PACKAGE = pathlib.Path(shmring.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_loop_back_edge_escapes_its_try_or_with(path):
    assert _unguarded_back_edges(path) == [], (
        "a loop inside this try/with can raise past it on CPython "
        f"{sys.version_info[0]}.{sys.version_info[1]}: move the loop into a function of its own"
    )


def test_the_check_finds_such_a_loop(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(xs):\n"
        "    try:\n"
        "        while xs:\n"
        "            xs.pop()\n"
        "    finally:\n"
        "        print('done')\n"
    )
    found = _unguarded_back_edges(sample)
    if sys.version_info >= (3, 12):
        assert found == ["sample.py:3 in f (the try/with of line 2)"]
    else:
        assert found == []  # 3.11 covers the back edge
