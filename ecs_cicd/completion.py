"""Shell completion for the `ecs-cicd` command, generated from the CLI's argparse tree.

No third-party library: the tree is walked here (verbs, nested verbs, options, their choices)
into a bash function; zsh runs the same function through bashcompinit. A verb, option or choice
added to the parser is completed without touching this module.
"""

from __future__ import annotations

import argparse
import shlex

COMMAND = "ecs-cicd"
# Options whose value is a path: completed with file names.
_PATH_METAVARS = ("PATH", "FILE", "DIR")


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def tree(
    parser: argparse.ArgumentParser, path: str = ""
) -> dict[str, tuple[list[str], list[str], dict[str, str]]]:
    """path ("", "up", "state recover") -> (its verbs, its options, option -> what its value
    completes to: "files", "choices:a b", or "" for free text)."""
    verbs: list[str] = []
    options: list[str] = []
    values: dict[str, str] = {}
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if (
            not action.option_strings
            and action.choices
            and not isinstance(action, argparse._SubParsersAction)
        ):
            values[""] = " ".join(str(c) for c in action.choices)  # a positional's choices
        for flag in action.option_strings:
            options.append(flag)
            if action.nargs == 0:
                continue
            if action.choices:
                values[flag] = "choices:" + " ".join(str(c) for c in action.choices)
            elif str(action.metavar or "").split("[")[0] in _PATH_METAVARS:
                values[flag] = "files"
            else:
                values[flag] = ""
    out: dict[str, tuple[list[str], list[str], dict[str, str]]] = {}
    sub = _subparsers(parser)
    if sub is not None:
        for name, child in sub.choices.items():
            verbs.append(name)
            out.update(tree(child, f"{path} {name}".strip()))
    out[path] = (verbs, options, values)
    return out


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` ("bash" or "zsh")."""
    nodes = tree(parser)
    top_values = nodes[""][2]
    verb_cases, word_cases, option_cases, value_cases = [], [], [], []
    for path, (verbs, options, values) in sorted(nodes.items()):
        key = shlex.quote(path)
        if verbs:
            verb_cases.append(f"        {key}) echo {shlex.quote(' '.join(verbs))} ;;")
        words = " ".join([*verbs, values.get("", "")]).strip()
        if words:
            word_cases.append(f"        {key}) echo {shlex.quote(words)} ;;")
        option_cases.append(f"        {key}) echo {shlex.quote(' '.join(options))} ;;")
        flags = {**top_values, **values}
        for flag, what in sorted((f, w) for f, w in flags.items() if f):
            pattern = shlex.quote(f"{path}|{flag}")
            value_cases.append(f"        {pattern}) echo {shlex.quote(what)} ;;")
    body = f"""# {COMMAND} completion ({shell}), generated from the CLI's parser by `{COMMAND} completion {shell}`.
_ecs_cicd_verbs() {{
    case "$1" in
{chr(10).join(verb_cases)}
    esac
}}
_ecs_cicd_words() {{
    case "$1" in
{chr(10).join(word_cases)}
    esac
}}
_ecs_cicd_options() {{
    case "$1" in
{chr(10).join(option_cases)}
    esac
}}
_ecs_cicd_value() {{
    case "$1|$2" in
{chr(10).join(value_cases)}
        *) echo none ;;
    esac
}}
_ecs_cicd() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" i word what verbs
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        what="$(_ecs_cicd_value "$path" "$word")"
        if [[ "$word" == -* && "$what" != none ]]; then
            ((i++))  # the option's value
            continue
        fi
        verbs=" $(_ecs_cicd_verbs "$path") "
        if [[ "$word" != -* && "$verbs" == *" $word "* ]]; then
            path="${{path:+$path }}$word"
        fi
    done
    if ((COMP_CWORD > 1)); then
        what="$(_ecs_cicd_value "$path" "${{COMP_WORDS[COMP_CWORD - 1]}}")"
        case "$what" in
            files) COMPREPLY=($(compgen -f -- "$cur")); return ;;
            choices:*) COMPREPLY=($(compgen -W "${{what#choices:}}" -- "$cur")); return ;;
            none) ;;
            *) return ;;
        esac
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_ecs_cicd_options "$path")" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_ecs_cicd_words "$path")" -- "$cur"))
    fi
}}
complete -o default -F _ecs_cicd {COMMAND}
"""
    if shell == "zsh":
        body = "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body
