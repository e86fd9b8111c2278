"""Commands of the published log: publish (to a directory, az://, s3://, gs://) and witness."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditlog import errors
from auditlog.cli.base import EXIT_CODES, cli, log_option, open_log, output_option
from auditlog.cli.progress import progress
from auditlog.render import plural

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
@click.option("--witness", "witness_urls", multiple=True, nargs=2, metavar="URL VKEY|FILE",
              help="A tlog-witness to ask for a cosignature before the checkpoint is written (its URL prefix, "
                   "before /add-checkpoint) and its key. Repeatable.")
@click.option("--witnesses", "quorum", type=click.IntRange(min=0), default=None,
              help="How many of the --witness witnesses must cosign (default: all); with fewer the "
                   "published checkpoint is left as it was (exit 1 if one refused, 4 if one was unreachable).")
@output_option("text", "json", default="text")
def publish(log_path: str, uri: str, key_path: str, key_name: str | None, directory: str | None,
            cosigned_files: tuple[str, ...], witness_urls: tuple[tuple[str, str], ...], quorum: int | None,
            output: str) -> None:
    """Publish the log as C2SP tlog-tiles (checkpoint, tiles, entry bundles) with its projections.

    Incremental: only new tiles and changed files are written, the checkpoint last. Refused
    (exit 5) when the destination holds another log, a longer one, or one this log does not extend,
    or when another publish changed its checkpoint meanwhile (publish to one place at a time).
    """
    import json

    from auditlog.app.publish import publish as publish_log
    from auditlog.services.keys import load_signer
    from auditlog.services.witness import check_witnesses, load_witness_keys
    from auditlog.services.witness_http import WitnessEndpoint

    signer = load_signer(key_path, key_name)
    witnesses = [WitnessEndpoint(url, key) for (url, _), key in
                 zip(witness_urls, load_witness_keys([vkey for _, vkey in witness_urls]))]
    for endpoint in witnesses:
        if not endpoint.url.startswith(("http://", "https://")):
            raise errors.InvalidInput("--witness", f"{endpoint.url}: not an http:// or https:// URL")
    check_witnesses([w.key for w in witnesses], [signer.verifier()], quorum, "--witness")
    with open_log(log_path) as log, progress("publishing") as report:
        done = publish_log(log, log_path, uri, signer, directory, [Path(f).read_bytes() for f in cosigned_files],
                           report, witnesses=witnesses, quorum=quorum)
    cp = done.publication.checkpoint
    if output == "json":
        click.echo(json.dumps({"uri": uri, "origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                               "previous_size": done.publication.since, "written": done.publication.written,
                               "unchanged": len(done.publication.unchanged), "cosigned_by": done.cosigned_by,
                               "witness_failures": done.witness_failures}, indent=2))
        return
    for failure in done.witness_failures:
        click.echo(f"warning: a witness did not cosign: {failure}", err=True)
    click.echo(f"published {plural(cp.size, 'event')} of {cp.origin} to {uri} (root {cp.root.hex()}): "
               f"{len(done.publication.written)} files written, {len(done.publication.unchanged)} already there"
               + (f"; was {done.publication.since}" if done.publication.previous else "")
               + (f"; cosigned by {', '.join(done.cosigned_by)}" if done.cosigned_by else ""))


@cli.command(epilog=EXIT_CODES)
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The witness's private key (auditlog keygen --cosigner).")
@click.option("--name", "key_name", help="The key's name, for key files without a 'name:' line.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="The witness's state directory: the largest checkpoint cosigned, per origin.")
@click.option("--origin", required=True, metavar="ORIGIN",
              help="The log witnessed: its checkpoints' origin. A checkpoint of another origin is refused, "
                   "whoever signed it.")
@click.option("--vkey", "log_vkeys", required=True, multiple=True, metavar="VKEY|FILE",
              help="That log's verifier key (or a file holding it). Repeatable.")
@click.option("--from", "uri", metavar="URI", help="A published log: its checkpoint, and proofs from its tiles.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True),
              help="A checkpoint note (instead of --from).")
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False, exists=True),
              help="With --checkpoint: the consistency proof from the size cosigned before (base64 lines; "
                   "after an 'old N' line, that size must be the one this witness cosigned last).")
@click.option("--request", "request_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True),
              help="A tlog-witness add-checkpoint request body (old size, proof, empty line, checkpoint), "
                   "instead of --from or --checkpoint: checked as `witness-server` checks it.")
def witness(key_path: str, key_name: str | None, state_dir: str, origin: str, log_vkeys: tuple[str, ...],
            uri: str | None, checkpoint_file: str | None, proof_file: str | None, request_file: str | None) -> None:
    """Check a log's checkpoint and that it extends the one cosigned before; print it cosigned.

    The cosignature is C2SP tlog-cosignature/v1 (timestamped). A rollback or a fork is refused
    (exit 1, naming both sizes and roots); the state is kept atomically.
    """
    from auditlog.services.keys import load_signer, load_verifiers
    from auditlog.services.witness import check_witnesses, parse_proof_file, witness_request
    from auditlog.services.witness import witness as cosign_checkpoint
    from auditlog.tlog.witness_protocol import AddCheckpoint, parse_request

    if [uri, checkpoint_file, request_file].count(None) != 2:
        raise errors.InvalidInput("--from/--checkpoint/--request", "give a published log (--from), a checkpoint "
                                  "file (--checkpoint) or a tlog-witness request (--request): one of them")
    if proof_file and not checkpoint_file:
        raise errors.InvalidInput("--proof", "goes with --checkpoint (--from takes the proof from the published "
                                  "tiles, --request holds its own)")
    signer = load_signer(key_path, key_name, cosigner=True)
    verifiers = load_verifiers(list(log_vkeys))
    check_witnesses([signer.verifier()], verifiers, None, "--key")
    state = Path(state_dir)
    if request_file is not None:
        request = parse_request(click.open_file(request_file, "rb").read())
        click.echo(witness_request(request, origin, verifiers, signer, state).note, nl=False)
        return
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
        if old is not None:
            try:
                text = note.decode("utf-8") if isinstance(note, bytes) else note
            except UnicodeDecodeError:
                raise errors.InvalidInput("--checkpoint", "not a checkpoint note: not UTF-8") from None
            click.echo(witness_request(AddCheckpoint(old, tuple(hashes), text), origin, verifiers, signer,
                                       state).note, nl=False)
            return

        def proof_for(old_size: int, checkpoint: object) -> list[bytes]:
            if not hashes:
                raise errors.InvalidInput("--proof", f"this witness cosigned size {old_size} before: give the "
                                          "consistency proof from it (or use --from)")
            return hashes
    click.echo(cosign_checkpoint(note, origin, verifiers, signer, state, proof_for).note, nl=False)
    sys.stdout.flush()


@cli.command("witness-server", epilog=EXIT_CODES)
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The witness's private key (auditlog keygen --cosigner).")
@click.option("--name", "key_name", help="The key's name, for key files without a 'name:' line.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="The witness's state directory (the same as `auditlog witness --state`).")
@click.option("--trust", "trusted", required=True, multiple=True, nargs=2, metavar="ORIGIN VKEY|FILE",
              help="A log this witness witnesses: its checkpoints' origin and a key that signs them. Repeatable "
                   "(several keys for one origin: any of them).")
@click.option("--listen", default="127.0.0.1:8380", show_default=True, metavar="HOST:PORT",
              help="Where to answer (port 0: any free port, printed on start).")
@click.option("--prefix", default="", metavar="PATH", help="The URL path before /add-checkpoint.")
def witness_server(key_path: str, key_name: str | None, state_dir: str, trusted: tuple[tuple[str, str], ...],
                   listen: str, prefix: str) -> None:
    """Serve C2SP tlog-witness: POST PREFIX/add-checkpoint cosigns a checkpoint that extends the last one.

    The checks, the record and its lock are `auditlog witness`'s, so both can share one state.
    Answers 200 with the cosignature line; 400 malformed; 403 no trusted signature; 404 an unknown
    origin; 409 another old size (the body names the witness's); 422 a fork or a proof that fails.
    Prints "listening on http://HOST:PORT/PREFIX" once ready; runs until interrupted.
    """
    from auditlog.core.note import Verifier, bad_text
    from auditlog.services.keys import load_signer, load_verifiers
    from auditlog.services.witness import check_witnesses
    from auditlog.services.witness_http import WitnessService, make_server

    signer = load_signer(key_path, key_name, cosigner=True)
    keys: dict[str, list[Verifier]] = {}
    for origin, vkey in trusted:
        if not origin or "\n" in origin or bad_text(origin) is not None:
            raise errors.InvalidInput("--trust", f"{origin!r} is not a checkpoint origin (one line of text)")
        keys.setdefault(origin, []).extend(load_verifiers([vkey]))
        check_witnesses([signer.verifier()], keys[origin], None, "--key")
    host, _, port = listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise errors.InvalidInput("--listen", f"{listen!r} is not HOST:PORT")
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    try:
        server = make_server(WitnessService(keys, signer, Path(state_dir)), host, int(port), prefix)
    except OSError as exc:
        raise errors.StorageError(f"--listen {listen}: {exc.strerror or exc}") from None
    click.echo(f"listening on http://{host}:{server.server_port}{prefix.rstrip('/')}/ as {signer.name}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
