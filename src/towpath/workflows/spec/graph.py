"""Checks on a main workflow's step graph: unique ids, known `depends_on`, no cycles.

Each problem comes with the data location to report, so the loader can turn it
into a `SpecError` at file:line:column and `WorkflowSpec.dag()` can raise the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from towpath.config import dotted
from towpath.workflows.spec.workflow import TemplateStep, WorkflowSpec

__all__ = ["Loc", "Problem", "graph_problems", "step_loc"]

Loc = tuple[int | str, ...]
"""A location in the workflow document (`("steps", 2, "job", "id")`)."""
Problem = tuple[Loc, str]
"""Where a problem is, and what it is."""


def step_loc(spec: WorkflowSpec, index: int) -> Loc:
    """The document location of step `index`'s job or template body."""
    step = spec.steps[index]
    return ("steps", index, "template" if isinstance(step, TemplateStep) else "job")


def _iter_ids(spec: WorkflowSpec) -> Iterator[tuple[Loc, str]]:
    """(data location of the `id`, id) of every step and write job, in file order."""
    for i, step in enumerate(spec.steps):
        yield (*step_loc(spec, i), "id"), step.id
        if isinstance(step, TemplateStep):
            for k, write in enumerate(step.write_steps):
                yield ("steps", i, "template", "write_jobs", k, "job", "id"), write.job.id


def graph_problems(spec: WorkflowSpec) -> list[Problem]:
    """Duplicate ids, unknown `depends_on` names and cycles, each with the data location to report."""
    problems: list[Problem] = []
    seen: dict[str, Loc] = {}
    for loc, node_id in _iter_ids(spec):
        if node_id in seen:
            first = dotted(seen[node_id][:-1])
            problems.append((loc, f"duplicate id '{node_id}' (already used by {first})"))
        else:
            seen[node_id] = loc
    step_ids = [step.id for step in spec.steps]
    write_ids = set(seen) - set(step_ids)
    for i, step in enumerate(spec.steps):
        for k, dep in enumerate(step.depends_on or []):
            if dep in step_ids:
                if dep == step.id:
                    problems.append(((*step_loc(spec, i), "depends_on", k), f"step '{dep}' depends on itself"))
                continue
            if dep in write_ids:
                msg = f"'{dep}' is a write job inside a template; depend on the template's id instead"
            else:
                msg = f"unknown step '{dep}' (steps: {', '.join(step_ids)})"
            problems.append(((*step_loc(spec, i), "depends_on", k), msg))
    if problems:
        return problems
    cycle = _find_cycle(spec.dependencies())
    if cycle:
        index = step_ids.index(cycle[0])
        problems.append(
            ((*step_loc(spec, index), "depends_on"),
             f"depends_on forms a cycle: {' -> '.join(cycle)} (each step waits for the one before it)")
        )
    return problems


def _find_cycle(deps: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """One cycle as `[a, b, ..., a]`, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state and (found := visit(node)):
            # the search walks "depends on" edges; reversed, each step waits for the one before it
            return list(reversed(found))
    return None
