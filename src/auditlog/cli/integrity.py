"""Commands that prove things: verify, keygen, checkpoint(s), cosign, prove, verify-proof, prove-consistency."""

from __future__ import annotations

import base64
import json
import shlex
import sys
from pathlib import Path

import click

from auditlog import errors
from auditlog.cli.base import (
    EXIT_CODES,
    cli,
    exit_after_output,
    expect_log_id_option,
    log_option,
    open_log,
    output_option,
    records_output,
    table_width,
)
from auditlog.cli.options import RUN_ID, int64
from auditlog.cli.progress import progress
from auditlog.cli.queries import origin_needs_from
from auditlog.render import plural, render, safe_text

vkey_option = click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
                           help="A trusted verifier key (name+hex+base64), or a file holding one. Repeatable.")
key_option = click.option("--key", "key_path", type=click.Path(dir_okay=False),
                          help="Private key file (PKCS#8 PEM, mode 0600); passphrase from $AUDITLOG_KEY_PASSPHRASE.")
name_option = click.option("--name", "key_name", help="The key's name, for key files without a 'name:' line.")


@cli.command(epilog=EXIT_CODES)
@log_option
@click.option("--checkpoint", "checkpoint_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A signed checkpoint the log must extend (catches truncation, rollback, rewrite). Repeatable.")
@vkey_option
@click.option("--from", "uri", metavar="URI", help="Check a published log instead (a directory, az://, s3://, gs://): "
              "its checkpoint under --vkey, every tile and entry, the chain.")
@click.option("--witness-vkey", "witness_vkeys", multiple=True, metavar="VKEY|FILE",
              help="A witness's key (type 0x04, or 0x01 for old `cosign` signatures). Repeatable.")
@click.option("--witnesses", "quorum", type=click.IntRange(min=0), default=None,
              help="How many of the --witness-vkey witnesses must have cosigned (default: 1 if any is given).")
@click.option("--origin", metavar="ORIGIN", help="With --from: the origin the published checkpoint must name "
              "(one key may sign checkpoints of several logs).")
@output_option("text", "json", default="text")
def verify(log_path: str, checkpoint_files: tuple[str, ...], vkeys: tuple[str, ...], uri: str | None,
           witness_vkeys: tuple[str, ...], quorum: int | None, origin: str | None, output: str) -> None:
    """Recompute every hash, link and Merkle subtree; check stored and given checkpoints.

    With --from, check a published log (docs/publishing.md) instead. Exit 1, naming the
    first bad seq or file and why, if anything is wrong.
    """
    from auditlog.services.checkpoints import checkpoint_anchors
    from auditlog.services.keys import load_verifiers

    if checkpoint_files and not vkeys:
        raise errors.InvalidInput("--vkey", "checking a --checkpoint needs the verifier key(s) that signed it")
    verifiers = load_verifiers(list(vkeys))
    if uri is not None or witness_vkeys or quorum or origin is not None:
        _verify_published(uri, verifiers, checkpoint_files, witness_vkeys, quorum, origin, output)
        return
    with open_log(log_path) as log, progress("verifying") as report_progress:
        origin = log.info().get("origin")
        anchors = checkpoint_anchors(checkpoint_files, verifiers, origin=origin)
        total = log.head().size

        def counted(done: int) -> None:
            assert report_progress is not None
            report_progress(done, max(total, done))
        report = log.verify(progress=counted if report_progress else None, checkpoints=anchors, verifiers=verifiers)
    exit_after_output(errors.EXIT_OK if report.ok else errors.EXIT_INTEGRITY)
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        click.echo(report.summary())
    else:
        for problem in report.problems[:10]:
            click.echo(safe_text(str(problem), limit=400))
        click.echo(f"{plural(report.problem_count, 'problem')}; first bad seq {report.first.seq}", err=True)
    if not report.ok:
        sys.exit(errors.EXIT_INTEGRITY)


def _verify_published(uri: str | None, verifiers: list, checkpoint_files: tuple[str, ...],
                      witness_vkeys: tuple[str, ...], quorum: int | None, origin: str | None, output: str) -> None:
    from auditlog.services.checkpoints import checkpoint_anchors
    from auditlog.services.published import verify_published
    from auditlog.services.targets import open_target
    from auditlog.services.witness import check_witnesses, load_witness_keys

    origin_needs_from(uri, origin)
    if uri is None:
        raise errors.InvalidInput("--witness-vkey", "witnesses are checked on a published log: give --from URI")
    if not verifiers:
        raise errors.InvalidInput("--vkey", "checking a published log needs the log's verifier key")
    witnesses = load_witness_keys(list(witness_vkeys))
    check_witnesses(witnesses, verifiers, quorum, "--witness-vkey")
    anchors = checkpoint_anchors(checkpoint_files, verifiers)
    need = (1 if witnesses else 0) if quorum is None else quorum
    report = verify_published(open_target(uri), verifiers, anchors=anchors, witnesses=witnesses, quorum=need,
                              origin=origin)
    if output == "json":
        cp = report.checkpoint
        click.echo(json.dumps({"ok": True, "uri": uri, "origin": cp.origin, "size": cp.size, "root": cp.root.hex(),
                               "signers": report.signers, "witnesses": report.witnesses, "files": report.files},
                              indent=2))
    else:
        click.echo(safe_text(report.summary(), limit=2000))


@cli.command(epilog=EXIT_CODES)
@click.option("--name", required=True, help="The key's name, e.g. ci.example.org (shown in signatures).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the private key; the verifier key goes beside it with suffix .vkey.")
@click.option("--cosigner", is_flag=True,
              help="A witness's key, for `witness` and `witness-server` only: its verifier key has type 0x04 "
                   "(tlog-cosignature/v1).")
def keygen(name: str, out: str, cosigner: bool) -> None:
    """Make an Ed25519 signing key (PKCS#8 PEM, mode 0600) and its verifier key."""
    from auditlog.services.keys import generate_key
    key_path, vkey_path = generate_key(name, Path(out), cosigner=cosigner)
    click.echo(f"private key: {key_path} (keep it secret)\nverifier key: {vkey_path}: {vkey_path.read_text().strip()}")


@cli.command(epilog=EXIT_CODES)
@log_option
@key_option
@name_option
def checkpoint(log_path: str, key_path: str | None, key_name: str | None) -> None:
    """Sign the log's current tree (C2SP checkpoint), keep it in the log, print the note."""
    from auditlog.services.keys import load_signer
    if not key_path:
        raise errors.InvalidInput("--key", "a checkpoint is signed: give the private key file")
    signer = load_signer(key_path, key_name)
    with open_log(log_path) as log:
        click.echo(log.checkpoint(signer), nl=False)


@cli.command(epilog=EXIT_CODES)
@log_option
@records_output()
def checkpoints(log_path: str, output: str) -> None:
    """List the checkpoints kept in the log: size, root, the signers their notes name, time.

    Signatures are not checked here: `claimed_signers` is what each note says, not a proof
    (`auditlog verify --vkey KEY` checks them)."""
    from auditlog.core.note import unverified_note
    with open_log(log_path) as log:
        stored = log.store.checkpoints()
    records = [{"id": c.id, "size": c.size, "root": c.root,
                "claimed_signers": " ".join(s.name for s in unverified_note(c.note)[1]), "created": c.created}
               for c in stored]
    click.echo(render(records, output, ["id", "size", "root", "claimed_signers", "created"], width=table_width()),
               nl=False)


@cli.command(epilog=EXIT_CODES)
@click.argument("note_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True))
@key_option
@name_option
@click.option("--log", "log_path", default=None, help="Check the checkpoint against this log first, and keep the cosigned note in it.")
@expect_log_id_option
def cosign(note_file: str, key_path: str | None, key_name: str | None, log_path: str | None) -> None:
    """Add a plain signature to a checkpoint note, without checking consistency (replaced by `witness`).

    Kept for existing scripts; `auditlog witness` checks the log's signature and that the
    checkpoint extends the one it cosigned before. Signatures made here still verify."""
    from auditlog.services.checkpoints import cosign as add_signature
    from auditlog.services.keys import load_signer
    if not key_path:
        raise errors.InvalidInput("--key", "cosigning needs the witness's private key file")
    signer = load_signer(key_path, key_name)
    note = click.open_file(note_file, "rb").read()  # bytes: a note that is not UTF-8 is refused as malformed
    where = f"NOTE_FILE {'<stdin>' if note_file == '-' else note_file}"
    if log_path:
        with open_log(log_path) as log:
            click.echo(add_signature(note, signer, log, where=where), nl=False)
    else:
        click.echo(add_signature(note, signer, where=where), nl=False)


@cli.command(epilog=EXIT_CODES)
@click.argument("run_id", type=RUN_ID, required=False)
@click.option("--seq", type=int64(), help="Prove the event at this seq instead of a run.")
@log_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the evidence files.")
@key_option
@name_option
@click.option("--vkey", "vkeys", multiple=True, metavar="VKEY|FILE",
              help="The log's verifier key (or a file holding it): a stored checkpoint is used only if it "
                   "verifies under it. Repeatable; implied by --key.")
@click.option("--force", is_flag=True, help="Replace evidence files that already exist (default: refuse, exit 5).")
def prove(run_id: str | None, seq: int | None, log_path: str, out_dir: str, key_path: str | None,
          key_name: str | None, vkeys: tuple[str, ...], force: bool) -> None:
    """Write offline evidence for a run: its exact event bytes (.event) and a C2SP tlog-proof (.tlog-proof).

    Uses the latest stored checkpoint that covers the event, once its signature checks out
    under --vkey (or --key's own key); with --key it first signs a new one. The files are
    named after the run id plus a hash of it (unique per run), written atomically, and
    never replace existing files unless --force.
    """
    from auditlog.core import events as ev
    from auditlog.core.checkpoint import parse_checkpoint
    from auditlog.core.note import unverified_note
    from auditlog.services.checkpoints import (
        checked_covering_checkpoint,
        evidence_for,
        evidence_stem,
        write_evidence,
    )
    from auditlog.services.keys import load_signer, load_verifiers

    if (run_id is None) == (seq is None):
        raise errors.InvalidInput("RUN_ID/--seq", "name a run id or an event --seq (one of them)")
    verifiers = load_verifiers(list(vkeys))
    signer = load_signer(key_path, key_name) if key_path else None
    if signer is not None:
        verifiers.append(signer.verifier())
    with open_log(log_path) as log:
        if run_id is not None:
            found = log.about(run_id, ev.RUN_RECORDED)
            if not found:
                raise errors.RunNotFound(run_id, log_path)
            seq = found[0].seq
        else:
            assert seq is not None  # one of RUN_ID and --seq, checked above
            log.event(seq)
        if signer is not None:
            log.checkpoint(signer)
        stored = checked_covering_checkpoint(log, seq, verifiers)
        if stored is None:
            raise errors.NotFound(f"no stored checkpoint covers seq {seq}: give --key to sign one")
        evidence = evidence_for(log, seq, stored)
    stem = evidence_stem(run_id) if run_id is not None else f"seq-{seq}"
    event_path, proof_path = write_evidence(Path(out_dir), stem, evidence, force=force)
    origin = parse_checkpoint(unverified_note(stored.note)[0]).origin
    trusted = [v.vkey for v in verifiers if any((s.name, s.key_id) == (v.name, v.key_id)
                                                 for s in unverified_note(stored.note)[1])]
    command = ["auditlog", "verify-proof", str(event_path), str(proof_path), "--origin", origin,
               *(a for vkey in dict.fromkeys(trusted) for a in ("--vkey", vkey))]
    for line in (str(event_path), str(proof_path),
                 f"seq {seq} proven in the checkpoint of size {stored.size} (root {stored.root})",
                 f"check it with: {shlex.join(command)}"):
        click.echo(safe_text(line, limit=4000))


@cli.command(name="verify-proof", epilog=EXIT_CODES)
@click.argument("event_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("proof_file", type=click.Path(dir_okay=False, exists=True))
@vkey_option
@click.option("--origin", help="The origin of the log the evidence must come from (required, or --trust).")
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False),
              help="A pinned trust file: lines 'origin ORIGIN' and 'vkey VKEY' (instead of --origin and --vkey).")
@output_option("text", "json", default="text")
def verify_proof(event_file: str, proof_file: str, vkeys: tuple[str, ...], origin: str | None,
                 trust_file: str | None, output: str) -> None:
    """Check evidence offline: signature(s), origin, inclusion proof, event bytes. No log, no network.

    The expected origin is required (--origin, or a --trust file): the same key may sign
    checkpoints of several logs, and evidence from another of them must not pass.
    """
    from auditlog.services.checkpoints import verify_evidence_files
    from auditlog.services.keys import load_trust, load_verifiers

    trusted = []
    if trust_file is not None:
        if origin is not None:
            raise errors.InvalidInput("--origin", "give --origin or --trust, not both: the trust file names the origin")
        trust = load_trust(trust_file)
        origin, trusted = trust.origin, list(trust.verifiers)
    if not vkeys and not trusted:
        raise errors.InvalidInput("--vkey", "verifying evidence needs at least one trusted verifier key")
    if origin is None:
        raise errors.InvalidInput("--origin", "give the expected log origin (--origin ORIGIN, or --trust FILE): "
                                  "otherwise evidence from another log signed by the same key would pass")
    verifiers = trusted + load_verifiers(list(vkeys))
    proven = verify_evidence_files(event_file, proof_file, verifiers, origin)
    event, cp = proven.event, proven.checkpoint
    if output == "json":
        click.echo(json.dumps({"ok": True, "seq": event.seq, "type": event.type, "project": event.project,
                               "subject": event.subject, "origin": cp.origin, "size": cp.size,
                               "root": cp.root.hex(), "signers": list(proven.signers)}, indent=2))
        return
    click.echo(safe_text(f"ok: {event.type} {event.subject} (project {event.project}, seq {event.seq}) is in "
                         f"the log {cp.origin} of size {cp.size}, root {cp.root.hex()}, "
                         f"signed by {', '.join(proven.signers)}", limit=1000))


@cli.command(name="prove-consistency", epilog=EXIT_CODES)
@click.option("--from", "size1", required=True, type=click.IntRange(min=1), help="The older tree size.")
@click.option("--to", "size2", type=click.IntRange(min=1), help="The newer tree size (default: the whole log).")
@log_option
def prove_consistency(size1: int, size2: int | None, log_path: str) -> None:
    """Print an RFC 9162 consistency proof (JSON): the tree of --from events is a prefix of --to."""
    with open_log(log_path) as log:
        size2 = log.head().size if size2 is None else size2
        if size1 > size2:
            raise errors.InvalidInput("--from", f"{size1} is larger than --to {size2}")
        proof = log.consistency_proof(size1, size2)
        roots = (log.root(size1), log.root(size2))

    def b64(h: bytes) -> str:
        return base64.b64encode(h).decode("ascii")

    click.echo(json.dumps({"from": size1, "to": size2, "root_from": b64(roots[0]), "root_to": b64(roots[1]),
                           "proof": [b64(h) for h in proof]}, indent=2))
