"""Commands of the published log: publish (to a directory, az://, s3://, gs://) and witness."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log, output_option
from auditlog.cli.progress import progress

TO_HELP = "A directory, az://CONTAINER/PREFIX, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (docs/publishing.md)."


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--to", "uri", required=True, metavar="URI", help=TO_HELP)
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The log's private key: signs the published checkpoint (and the projections' note).")
@click.option("--name", "key_name", help="The key's name, for key files without a 'name:' line.")
@click.option("--projections", "directory", metavar="DIR", help="The projections directory (default: beside the log).")
@click.option("--cosigned", "cosigned_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A checkpoint a witness cosigned (`auditlog witness` output) for the tree being published: "
                   "its cosignatures are added to the published checkpoint. Repeatable.")
@output_option("text", "json", default="text")
def publish(log_path: str, uri: str, key_path: str, key_name: str | None, directory: str | None,
            cosigned_files: tuple[str, ...], output: str) -> None:
    """Publish the log as C2SP tlog-tiles (checkpoint, tiles, entry bundles) with its projections.

    Incremental: only new tiles and changed files are written, the checkpoint last. Refused
    (exit 5) when the destination holds another log, a longer one, or one this log does not extend.
    """
    import json

    from auditlog.app.publish import publish as publish_log
    from auditlog.services.keys import load_signer

    signer = load_signer(key_path, key_name)
    with open_log(log_path) as log, progress("publishing") as report:
        done = publish_log(log, log_path, uri, signer, directory, [Path(f).read_bytes() for f in cosigned_files],
                           report)
    cp = done.checkpoint
    if output == "json":
        click.echo(json.dumps({"uri": uri, "origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                               "previous_size": done.since, "written": done.written,
                               "unchanged": len(done.unchanged)}, indent=2))
        return
    click.echo(f"published {cp.size} events of {cp.origin} to {uri} (root {cp.root.hex()}): "
               f"{len(done.written)} files written, {len(done.unchanged)} already there"
               + (f"; was {done.since}" if done.previous else ""))


@cli.command(epilog=EXIT_CODES)
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The witness's private key (auditlog keygen --cosigner).")
@click.option("--name", "key_name", help="The key's name, for key files without a 'name:' line.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="The witness's state directory: the largest checkpoint cosigned, per origin.")
@click.option("--vkey", "log_vkeys", required=True, multiple=True, metavar="VKEY|FILE",
              help="The log's verifier key (or a file holding it). Repeatable.")
@click.option("--from", "uri", metavar="URI", help="A published log: its checkpoint, and proofs from its tiles.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True),
              help="A checkpoint note (instead of --from).")
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False, exists=True),
              help="With --checkpoint: the consistency proof from the size cosigned before (base64 lines, "
                   "optionally after an 'old N' line, as tlog-witness sends them).")
def witness(key_path: str, key_name: str | None, state_dir: str, log_vkeys: tuple[str, ...], uri: str | None,
            checkpoint_file: str | None, proof_file: str | None) -> None:
    """Check a log's checkpoint and that it extends the one cosigned before; print it cosigned.

    The cosignature is C2SP tlog-cosignature/v1 (timestamped). A rollback or a fork is refused
    (exit 1, naming both sizes and roots); the state is kept atomically.
    """
    from auditlog.services.keys import load_signer, load_verifiers
    from auditlog.services.witness import parse_proof_file
    from auditlog.services.witness import witness as cosign_checkpoint

    if (uri is None) == (checkpoint_file is None):
        raise errors.InvalidInput("--from/--checkpoint", "give a published log (--from) or a checkpoint file (one of them)")
    if proof_file and uri:
        raise errors.InvalidInput("--proof", "with --from, the proof is taken from the published tiles")
    signer = load_signer(key_path, key_name)
    verifiers = load_verifiers(list(log_vkeys))
    if uri is not None:
        from auditlog.services.published import PublishedLog
        from auditlog.services.targets import open_target
        published = PublishedLog(open_target(uri), verifiers)
        note: bytes | str = published.note

        def proof_for(old_size: int, checkpoint: object) -> list[bytes]:
            return published.consistency_proof(old_size)
    else:
        assert checkpoint_file is not None
        note = click.open_file(checkpoint_file, "rb").read()
        old, hashes = parse_proof_file(Path(proof_file).read_text(encoding="utf-8")) if proof_file else (None, [])

        def proof_for(old_size: int, checkpoint: object) -> list[bytes]:
            if old is not None and old != old_size:
                raise errors.VerificationError(f"--proof is from size {old}; this witness cosigned size {old_size}")
            if not hashes:
                raise errors.InvalidInput("--proof", f"this witness cosigned size {old_size} before: give the "
                                          "consistency proof from it (or use --from)")
            return hashes
    click.echo(cosign_checkpoint(note, verifiers, signer, Path(state_dir), proof_for), nl=False)
    sys.stdout.flush()
