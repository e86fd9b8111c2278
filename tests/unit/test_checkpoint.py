"""Signed notes and checkpoints: interop with golang.org/x/mod/sumdb/note, cosigning, strictness."""

from __future__ import annotations

import pytest

from auditlog.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from auditlog.core.merkle import leaf_hash
from auditlog.core.note import key_id, open_note, parse_verifier_key
from auditlog.errors import InvalidInput, KeyFileError, SignatureError
from auditlog.services.signing import Signer, add_signatures, parse_signer_key, sign_checkpoint, sign_note

# --- Known answers from github.com/golang/mod, sumdb/note/note_test.go (TestNewVerifier,
# TestNewSigner, TestSign, TestOpen) and the package documentation in sumdb/note/note.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
PETER_NOTE = TEXT + "\n" + PETER_SIG

PETER = parse_verifier_key(PETER_VKEY)
ENOCH = parse_verifier_key(ENOCH_VKEY)


def insert_abcd(sig_line: str) -> str:
    """As note_test.go: sig[:60] + "ABCD" + sig[60:], counting UTF-8 bytes like Go."""
    raw = sig_line.encode("utf-8")
    return (raw[:60] + b"ABCD" + raw[60:]).decode("utf-8")


def test_go_keys_parse_and_key_id_matches() -> None:
    assert (PETER.name, PETER.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert key_id("PeterNeumann", PETER.public_key) == 0xC74F20A3
    assert PETER.vkey == PETER_VKEY
    signer = parse_signer_key(PETER_SKEY)
    assert signer.verifier_key() == PETER_VKEY
    assert signer.signer_key() == PETER_SKEY
    assert (ENOCH.name, ENOCH.key_id) == ("EnochRoot", 0xAF0CFE78)


def test_signing_reproduces_go_signature_byte_for_byte() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.sign(TEXT) == PETER_NOTE
    assert sign_note(TEXT, [signer]).encode("utf-8") == PETER_NOTE.encode("utf-8")


def test_go_note_opens() -> None:
    note = open_note(PETER_NOTE, [PETER])
    assert note.body == TEXT
    assert [(s.name, s.key_id) for s in note.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert note.other_signatures == ()
    assert open_note(PETER_NOTE.encode("utf-8"), [PETER]).body == TEXT


def test_go_cosigned_note_each_verifier_alone_suffices() -> None:
    msg = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    only_peter = open_note(msg, [PETER])
    assert [s.name for s in only_peter.signatures] == ["PeterNeumann"]
    assert [s.line() for s in only_peter.other_signatures] == [ENOCH_SIG]
    assert [s.name for s in open_note(msg, [ENOCH]).signatures] == ["EnochRoot"]
    assert [s.name for s in open_note(msg, [PETER, ENOCH]).signatures] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(SignatureError, match="no valid signature by a known key"):
        open_note(msg, [])


def test_go_duplicates_and_unknown_bad_signatures_are_ignored() -> None:
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + insert_abcd(ENOCH_SIG)
    note = open_note(msg, [PETER])
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert [s.line() for s in note.other_signatures] == [ENOCH_SIG, insert_abcd(ENOCH_SIG)]


def test_bad_signature_by_known_key_fails() -> None:
    with pytest.raises(SignatureError, match="bad signature by PeterNeumann"):
        open_note(TEXT + "\n" + insert_abcd(PETER_SIG), [PETER])


def test_a_later_bad_signature_by_a_known_key_fails_too() -> None:
    """signed-note: a line whose name and key id match a known key MUST be verified; Go's note.Open skips
    a second line by the same key once one verified, so a valid line cannot carry a forged one past us."""
    with pytest.raises(SignatureError, match="bad signature by PeterNeumann"):
        open_note(TEXT + "\n" + PETER_SIG + insert_abcd(PETER_SIG), [PETER])
    assert len(open_note(TEXT + "\n" + PETER_SIG + PETER_SIG, [PETER]).signatures) == 1  # an exact repeat is one


def test_a_later_bad_cosignature_by_a_witness_fails_too() -> None:
    from auditlog.services.signing import cosignature_line, cosigner_key
    from auditlog.tlog.cosignature import witnessed_by

    witness = Signer.generate("witness.example/w1")
    good = cosignature_line(witness, TEXT, 1_700_000_000)
    later = cosignature_line(witness, TEXT, 1_700_000_100)
    key = cosigner_key(witness)
    assert witnessed_by(TEXT + "\n" + PETER_SIG + good + later, [key]) == ["witness.example/w1"]
    assert key.timestamp_of(TEXT + "\n" + good + later) == 1_700_000_100
    with pytest.raises(SignatureError, match="bad cosignature by witness.example/w1"):
        witnessed_by(TEXT + "\n" + PETER_SIG + good + insert_abcd(later), [key])


@pytest.mark.parametrize("msg", [
    TEXT,                                                   # no signatures
    TEXT + "\n",                                            # empty signature block
    TEXT + "\n" + PETER_SIG[:-1],                           # last line without newline
    "\x01" + TEXT + "\n" + PETER_SIG,                       # control character
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),           # not UTF-8
    TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG * 101,                          # too many signatures
    TEXT + "\n" + "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    TEXT + "\n" + "— PeterNeumann AAAA\n",                 # signature too short
    TEXT + "\n" + "— PeterNeumann x08go/ZJkuBS9UG\n",        # not base64
    "no blank line\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
])
def test_malformed_notes_fail(msg) -> None:
    with pytest.raises(SignatureError, match="malformed note"):
        open_note(msg, [PETER])


def test_tampered_body_fails() -> None:
    with pytest.raises(SignatureError, match="bad signature by PeterNeumann"):
        open_note(PETER_NOTE.replace("cryptography", "cryptographY"), [PETER])


def test_same_name_other_key_is_unknown_and_ignored() -> None:
    impostor = Signer.generate("PeterNeumann")
    msg = add_signatures(PETER_NOTE, [impostor])
    note = open_note(msg, [PETER])
    assert [s.key_id for s in note.other_signatures] == [impostor.key_id]
    with pytest.raises(SignatureError, match="known: PeterNeumann"):
        open_note(impostor.sign(TEXT), [PETER])


# --- Keys ------------------------------------------------------------------------------------

def test_every_mangling_of_the_go_vkey_is_refused() -> None:  # as TestNewVerifier
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(KeyFileError):
                    parse_verifier_key(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(KeyFileError):
            parse_verifier_key(mangled.decode())


def test_every_mangling_of_the_go_skey_is_refused() -> None:  # as TestNewSigner
    b = PETER_SKEY.encode()
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(KeyFileError):
            parse_signer_key(mangled.decode())
    for cut in range(len(b)):
        with pytest.raises(KeyFileError):
            parse_signer_key(PETER_SKEY[:cut])
        with pytest.raises(KeyFileError):
            parse_signer_key(PETER_SKEY[cut + 1:])


@pytest.mark.parametrize(("vkey", "reason"), [
    # note_test.go's wrong-length key: Go gets as far as the length; we stop earlier,
    # because "EY==" is not canonical base64 (Go's decoder accepts that spelling).
    ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "not valid base64"),
    ("PeterNeumann+5bdbe860+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==", "must be 32 bytes, got 33"),
    ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "unsupported key algorithm 0x65"),
    ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
    ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
    ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 hex digits"),
    ("PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 hex digits"),
    ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match the key"),
    ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not valid base64"),
    ("PeterNeumann+c74f20a3+", "key data is empty"),
    ("PeterNeumann+c74f20a3", "must have the form"),
])
def test_malformed_vkey_says_what_is_wrong(vkey: str, reason: str) -> None:
    with pytest.raises(KeyFileError, match=reason):
        parse_verifier_key(vkey)


def test_generated_keys_round_trip() -> None:
    signer = Signer.generate("log.example/eval")
    assert parse_verifier_key(signer.verifier_key()) == signer.verifier()
    again = parse_signer_key(signer.signer_key())
    assert again.signer_key() == signer.signer_key()
    assert "PRIVATE" not in repr(signer)
    with pytest.raises(KeyFileError):
        Signer.generate("bad+name")


# --- Checkpoints -----------------------------------------------------------------------------

# github.com/golang/mod sumdb/tlog/note_test.go (TestFormatTree): a tree of size 123456789012
# whose hash is RecordHash("hello world") = SHA-256(0x00 || "hello world").
GO_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

# c2sp.org/tlog-checkpoint (C2SP/C2SP tlog-checkpoint.md): the example checkpoint.
C2SP_EXAMPLE = ("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
                "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
                "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n")


def test_go_tree_known_answer() -> None:
    checkpoint = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert checkpoint.to_text() == GO_TREE
    assert parse_checkpoint(GO_TREE) == checkpoint


def test_c2sp_example_parses_and_can_be_cosigned() -> None:
    body = C2SP_EXAMPLE[: C2SP_EXAMPLE.index("\n\n") + 1]
    checkpoint = parse_checkpoint(body)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.to_text() == body
    witness = Signer.generate("witness.example/w1")
    cosigned = add_signatures(C2SP_EXAMPLE, [witness])
    assert cosigned.startswith(C2SP_EXAMPLE)  # existing signature kept, byte for byte
    note = open_note(cosigned, [witness.verifier()])
    assert [s.name for s in note.other_signatures] == ["example.com/behind-the-sofa"]


def test_checkpoint_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint("log.example/evals", 0, bytes(32), ("ext one", "ext two"))
    assert parse_checkpoint(checkpoint.to_text()) == checkpoint


def test_witness_cosigning() -> None:
    log, witness, stranger = Signer.generate("log.example/a"), Signer.generate("witness.example"), Signer.generate("x")
    checkpoint = Checkpoint("log.example/a", 42, leaf_hash(b"x"))
    signed = sign_checkpoint(checkpoint, [log])
    cosigned = add_signatures(add_signatures(signed, [witness]), [stranger])
    assert cosigned.startswith(signed)
    for verifiers in ([log.verifier()], [witness.verifier()], [log.verifier(), witness.verifier()]):
        assert open_checkpoint(cosigned, verifiers, origin="log.example/a") == checkpoint
    both = open_note(cosigned, [log.verifier(), witness.verifier()])
    assert [s.name for s in both.signatures] == ["log.example/a", "witness.example"]
    assert [s.name for s in both.other_signatures] == ["x"]
    resigned = add_signatures(cosigned, [witness])  # a witness signing again replaces its line
    assert resigned.count("witness.example") == 1


def test_wrong_origin_fails() -> None:
    log = Signer.generate("log.example/a")
    signed = sign_checkpoint(Checkpoint("log.example/a", 1, bytes(32)), [log])
    with pytest.raises(SignatureError, match="origin 'log.example/a' differs"):
        open_checkpoint(signed, [log.verifier()], origin="log.example/b")


def test_signed_note_that_is_not_a_checkpoint() -> None:
    with pytest.raises(InvalidInput, match="checkpoint"):
        open_checkpoint(PETER_NOTE, [PETER])


ROOT64 = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="


@pytest.mark.parametrize("text", [
    f"origin\n012\n{ROOT64}\n",             # leading zero
    f"origin\n+12\n{ROOT64}\n",
    f"origin\n-1\n{ROOT64}\n",
    f"origin\n 12\n{ROOT64}\n",
    f"origin\n0xabcdef\n{ROOT64}\n",        # sumdb/tlog note_test.go bad tree
    f"origin\n١٢\n{ROOT64}\n",              # non-ASCII digits
    f"origin\n{2**63}\n{ROOT64}\n",         # beyond int64
    f"\n12\n{ROOT64}\n",                    # empty origin
    f"origin\n12\n{ROOT64}",                # no final newline
    f"origin\n12\n{ROOT64}\n\next\n",       # empty line inside
    "origin\n12\n",                         # no root
    "origin\n12\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",  # sumdb/tlog bad tree
    "origin\n12\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0\n",        # unpadded
    "origin\n12\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=\n",       # non-canonical
    "origin\n12\nAAAA\n",                   # 3 bytes
])
def test_strict_checkpoint_parsing(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_checkpoint(text)


@pytest.mark.parametrize("kwargs", [
    {"origin": "", "size": 1, "root": bytes(32)},
    {"origin": "a\nb", "size": 1, "root": bytes(32)},
    {"origin": "o", "size": -1, "root": bytes(32)},
    {"origin": "o", "size": True, "root": bytes(32)},
    {"origin": "o", "size": 1, "root": bytes(31)},
    {"origin": "o", "size": 1, "root": bytes(32), "extensions": ("",)},
])
def test_checkpoint_rejects_bad_fields(kwargs) -> None:
    with pytest.raises(InvalidInput):
        Checkpoint(**kwargs)


def test_sign_note_preconditions() -> None:
    signer = Signer.generate("a")
    for body in ["no newline", "tab\there\n", ""]:
        with pytest.raises(InvalidInput):
            sign_note(body, [signer])
    with pytest.raises(InvalidInput):
        sign_note("x\n", [])
    with pytest.raises(InvalidInput):
        sign_note("x\n", [signer, signer])


def test_body_with_blank_lines_is_kept_whole() -> None:
    signer = Signer.generate("a")
    body = "first\n\n— looks like a signature\n"
    assert open_note(sign_note(body, [signer]), [signer.verifier()]).body == body


def test_signature_of_wrong_length_by_known_key_is_bad() -> None:
    import base64
    for extra in (b"x", b"x" * 65):
        line = "— PeterNeumann " + base64.b64encode(bytes.fromhex("c74f20a3") + extra).decode() + "\n"
        with pytest.raises(SignatureError, match="bad signature by PeterNeumann"):
            open_note(TEXT + "\n" + line, [PETER])


def test_conflicting_verifiers_for_one_name_and_id_are_refused() -> None:
    from dataclasses import replace
    twin = replace(PETER, public_key=ENOCH.public_key)
    with pytest.raises(KeyFileError, match="ambiguous key"):
        open_note(PETER_NOTE, [PETER, twin])
    assert open_note(PETER_NOTE, [PETER, PETER]).signatures  # an exact duplicate is fine
