"""`provision completion bash|zsh|fish`: print the shell's completion script.

The scripts are click's (click.shell_completion): on <Tab> the shell runs provision again with
_PROVISION_COMPLETE set, and click answers from the live command tree, so completions follow
every command, option and choice without a list kept here.

Fish is the exception: click 8.4.0 ships a fish script that fails on every <Tab>
(pallets/click#3502: an unquoted \\n in `string split`, and three-line answers that fish's
command substitution cannot tell apart). The fish class below keeps click's protocol with the
earlier one-line answer, `type,value<TAB>help`, split on the first comma only, and replaces
click's class for the `fish` name — importing this module (as `provision.cli.main` does when a
shell asks for completions) is what makes provision answer fish in that format.
"""

from __future__ import annotations

import click
from click.shell_completion import (
    CompletionItem,
    FishComplete,
    add_completion_class,
    get_completion_class,
)

PROG_NAME = "provision"
COMPLETE_VAR = "_PROVISION_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

_SOURCE_FISH = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


class _FishComplete(FishComplete):
    source_template = _SOURCE_FISH

    def format_completion(self, item: CompletionItem) -> str:
        # One line per answer: fish splits the response on newlines and the value from its
        # description on the tab.
        value = item.value.replace("\n", " ").replace("\t", " ")
        help_ = " ".join((item.help or "").split())
        return f"{item.type},{value}\t{help_}" if help_ else f"{item.type},{value}"


add_completion_class(_FishComplete, "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def command(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash (~/.bashrc):  eval "$(provision completion bash)"
    zsh  (~/.zshrc, after compinit):  eval "$(provision completion zsh)"
    fish (~/.config/fish/config.fish):  provision completion fish | source
    """
    shell_complete = get_completion_class(shell)
    if shell_complete is None:  # click dropped the shell; the Choice above still offers it
        raise click.BadParameter(f"click has no completion for {shell}", param_hint="SHELL")
    root = ctx.find_root().command
    click.echo(shell_complete(root, {}, PROG_NAME, COMPLETE_VAR).source())
    return 0
