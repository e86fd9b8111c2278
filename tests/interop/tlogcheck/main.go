// Command tlogcheck checks auditlog's published files and evidence with Go's transparency-log
// packages (golang.org/x/mod/sumdb/note and sumdb/tlog), written by other people from the same
// specifications: C2SP signed-note, tlog-checkpoint, tlog-tiles, tlog-proof and tlog-cosignature,
// and RFC 9162's tree. The tests build it with Debian's Go and its x/mod sources (GOPATH mode:
// no download), run it on what auditlog wrote, and compare its answers with auditlog's.
//
//	tlogcheck tiles DIR VKEY...             checkpoint signed by a VKEY, every tile and entry bundle
//	tlogcheck extends DIR OLDCHECKPOINT VKEY... DIR's tree holds OLDCHECKPOINT's tree (tlog.ProveTree)
//	tlogcheck proof EVENT TLOGPROOF VKEY... a tlog-proof@v1 file for the event's bytes
//	tlogcheck consistency JSON OLDCP NEWCP VKEY... prove-consistency's output between two checkpoints
//
// Keys of type 0x01 are the log's (note.NewVerifier); keys of type 0x04 are cosigners', whose
// cosignature/v1 lines are checked here from tlog-cosignature's text (x/mod knows no cosignatures).
// It prints one JSON object and exits 0, or prints the error and exits 1.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	out, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	enc.Encode(out)
}

func run(args []string) (map[string]any, error) {
	if len(args) < 1 {
		return nil, errors.New("usage: tlogcheck tiles|extends|proof|consistency ...")
	}
	switch {
	case args[0] == "tiles" && len(args) >= 3:
		return checkTiles(args[1], args[2:])
	case args[0] == "extends" && len(args) >= 4:
		return checkExtends(args[1], args[2], args[3:])
	case args[0] == "proof" && len(args) >= 4:
		return checkProof(args[1], args[2], args[3:])
	case args[0] == "consistency" && len(args) >= 5:
		return checkConsistency(args[1], args[2], args[3], args[4:])
	}
	return nil, fmt.Errorf("bad arguments: %q", args)
}

// checkpoint is an opened, verified C2SP checkpoint.
type checkpoint struct {
	origin    string
	tree      tlog.Tree
	signers   []string
	cosigners []cosigned
}

type cosigned struct {
	Name      string `json:"name"`
	Timestamp uint64 `json:"timestamp"`
}

// openCheckpoint verifies the signed note under the log keys (type 0x01) among vkeys, then
// every cosignature by a cosigner key (type 0x04), and parses the body (tlog-checkpoint).
func openCheckpoint(msg []byte, vkeys []string) (*checkpoint, error) {
	var verifiers []note.Verifier
	var cosigners []cosignerKey
	for _, vkey := range vkeys {
		if k, ok, err := parseCosignerKey(vkey); err != nil {
			return nil, err
		} else if ok {
			cosigners = append(cosigners, k)
			continue
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("vkey %q: %v", vkey, err)
		}
		verifiers = append(verifiers, v)
	}
	if len(verifiers) == 0 {
		return nil, errors.New("no log key (type 0x01) given")
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		return nil, fmt.Errorf("note.Open: %v", err)
	}
	lines := strings.SplitAfter(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("checkpoint body has %d lines", len(lines)-1)
	}
	size, err := strconv.ParseInt(strings.TrimSuffix(lines[1], "\n"), 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != strings.TrimSuffix(lines[1], "\n") {
		return nil, fmt.Errorf("checkpoint size line %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(root) != tlog.HashSize {
		return nil, fmt.Errorf("checkpoint root line %q", lines[2])
	}
	cp := &checkpoint{origin: strings.TrimSuffix(lines[0], "\n"), tree: tlog.Tree{N: size}}
	copy(cp.tree.Hash[:], root)
	for _, sig := range n.Sigs {
		cp.signers = append(cp.signers, sig.Name)
	}
	for _, k := range cosigners {
		for _, sig := range n.UnverifiedSigs {
			if sig.Name != k.name || sig.Hash != k.hash {
				continue
			}
			ts, err := k.verify(n.Text, sig.Base64)
			if err != nil {
				return nil, err
			}
			cp.cosigners = append(cp.cosigners, cosigned{k.name, ts})
		}
	}
	return cp, nil
}

// cosignerKey is an Ed25519 cosigner key from a vkey of type 0x04 (tlog-cosignature).
type cosignerKey struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func parseCosignerKey(vkey string) (cosignerKey, bool, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return cosignerKey{}, false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return cosignerKey{}, false, nil
	}
	id := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	hash := binary.BigEndian.Uint32(id[:4])
	if fmt.Sprintf("%08x", hash) != parts[1] {
		return cosignerKey{}, false, fmt.Errorf("cosigner vkey %q: key id does not match", vkey)
	}
	return cosignerKey{parts[0], hash, ed25519.PublicKey(raw[1:])}, true, nil
}

// verify checks one cosignature/v1 line: base64(key id || u64 timestamp || Ed25519 signature)
// over "cosignature/v1\ntime <timestamp>\n" followed by the note body.
func (k cosignerKey) verify(body, b64 string) (uint64, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
		return 0, fmt.Errorf("cosignature by %s: %d bytes", k.name, len(raw))
	}
	ts := binary.BigEndian.Uint64(raw[4:12])
	if ts > 1<<63-1 {
		return 0, fmt.Errorf("cosignature by %s: timestamp %d too large", k.name, ts)
	}
	msg := "cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + body
	if !ed25519.Verify(k.key, []byte(msg), raw[12:]) {
		return 0, fmt.Errorf("cosignature by %s does not verify", k.name)
	}
	return ts, nil
}

// tileDir reads C2SP tlog-tiles files: tile/<L>/<N>[.p/<W>], height 8 (not in the path).
type tileDir struct{ dir string }

func (d tileDir) Height() int { return 8 }

func (d tileDir) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		data[i] = b
	}
	return data, nil
}

func (d tileDir) SaveTiles([]tlog.Tile, [][]byte) {}

// c2spPath is x/mod's tile path without its height element: "tile/8/0/x001/234.p/5" is
// "tile/0/x001/234.p/5" in tlog-tiles, and level -1 ("data") is "entries".
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	return "tile/" + strings.Replace(p, "data/", "entries/", 1)
}

func readCheckpointFile(path string, vkeys []string) (*checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return openCheckpoint(msg, vkeys)
}

// checkTiles checks DIR as a tlog-tiles client would: the checkpoint's signatures, the root through
// the hash tiles (tlog.TileHashReader), every entry bundle; then, from the entries alone, every stored
// hash of the tree (tlog.StoredHashes): the root they give must be the signed one, and every tile a
// tree of that size has (tlog.NewTiles) must be, byte for byte, the published file. (The second pass
// does not rely on TileHashReader's authentication of tiles, which in x/mod 0.7.0 skips some full
// tiles: its loop over "tiles after the tree hash's tiles" starts at the count of subtree indexes,
// not of the distinct tiles they fall in.)
func checkTiles(dir string, vkeys []string) (map[string]any, error) {
	cp, err := readCheckpointFile(filepath.Join(dir, "checkpoint"), vkeys)
	if err != nil {
		return nil, err
	}
	hr := tlog.TileHashReader(cp.tree, tileDir{dir})
	root, err := tlog.TreeHash(cp.tree.N, hr)
	if err != nil {
		return nil, fmt.Errorf("tree hash from the tiles: %v", err)
	}
	if root != cp.tree.Hash {
		return nil, errors.New("the tiles' root is not the checkpoint's")
	}
	var stored []tlog.Hash
	memory := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	entries := sha256.New()
	var count int64
	for start := int64(0); start < cp.tree.N; start += 256 {
		width := cp.tree.N - start
		if width > 256 {
			width = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(width)}
		bundle, err := readBundle(dir, t)
		if err != nil {
			return nil, err
		}
		if int64(len(bundle)) != width {
			return nil, fmt.Errorf("%s holds %d entries, the tree %d", c2spPath(t), len(bundle), width)
		}
		for i, entry := range bundle {
			index := start + int64(i)
			leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
			if err != nil {
				return nil, fmt.Errorf("leaf %d: %v", index, err)
			}
			if tlog.RecordHash(entry) != leaf[0] {
				return nil, fmt.Errorf("entry %d of %s does not hash to its leaf", index, c2spPath(t))
			}
			more, err := tlog.StoredHashes(index, entry, memory)
			if err != nil {
				return nil, err
			}
			stored = append(stored, more...)
			entries.Write([]byte(fmt.Sprintf("%d:", len(entry))))
			entries.Write(entry)
			count++
		}
	}
	if root, err := tlog.TreeHash(cp.tree.N, memory); err != nil || root != cp.tree.Hash {
		return nil, fmt.Errorf("the entries' root is not the checkpoint's (%v)", err)
	}
	tiles := tilesOf(cp.tree.N)
	for _, t := range tiles {
		want, err := tlog.ReadTileData(t, memory)
		if err != nil {
			return nil, err
		}
		got, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			return nil, fmt.Errorf("%s is not the tile of the entries' tree", c2spPath(t))
		}
	}
	// Every record proves into the signed tree (RFC 9162 inclusion), from the published tiles.
	for index := int64(0); index < cp.tree.N; index++ {
		p, err := tlog.ProveRecord(cp.tree.N, index, hr)
		if err != nil {
			return nil, fmt.Errorf("prove record %d: %v", index, err)
		}
		if err := tlog.CheckRecord(p, cp.tree.N, cp.tree.Hash, index, stored[tlog.StoredHashIndex(0, index)]); err != nil {
			return nil, fmt.Errorf("record %d: %v", index, err)
		}
	}
	return map[string]any{
		"origin": cp.origin, "size": cp.tree.N, "root": cp.tree.Hash.String(), "signers": cp.signers,
		"cosigners": cp.cosigners, "entries": count, "entries_sha256": fmt.Sprintf("%x", entries.Sum(nil)),
		"tiles": len(tiles),
	}, nil
}

// tilesOf lists the hash tiles a tree of size n has: at each level, its full tiles and the one
// partial tile, if any (tlog.NewTiles would list every partial width since size 0).
func tilesOf(n int64) []tlog.Tile {
	var tiles []tlog.Tile
	for level := 0; n>>(8*level) > 0; level++ {
		hashes := n >> (8 * level)
		for start := int64(0); start < hashes; start += 256 {
			width := hashes - start
			if width > 256 {
				width = 256
			}
			tiles = append(tiles, tlog.Tile{H: 8, L: level, N: start / 256, W: int(width)})
		}
	}
	return tiles
}

// readBundle reads an entry bundle: uint16 big-endian length-prefixed entries (tlog-tiles),
// or auditlog's documented entries-u32/ form (uint32 lengths) where the standard file is absent.
func readBundle(dir string, t tlog.Tile) ([][]byte, error) {
	name := c2spPath(t)
	data, err := os.ReadFile(filepath.Join(dir, name))
	lenSize := 2
	if errors.Is(err, os.ErrNotExist) {
		name = "entries-u32/" + strings.TrimPrefix(name, "tile/entries/")
		data, err = os.ReadFile(filepath.Join(dir, name))
		lenSize = 4
	}
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(data) > 0 {
		if len(data) < lenSize {
			return nil, fmt.Errorf("%s: truncated length", name)
		}
		var n int
		if lenSize == 2 {
			n = int(binary.BigEndian.Uint16(data))
		} else {
			n = int(binary.BigEndian.Uint32(data))
		}
		data = data[lenSize:]
		if len(data) < n {
			return nil, fmt.Errorf("%s: truncated entry", name)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out, nil
}

// checkExtends proves, from DIR's tiles, that DIR's signed tree holds OLDCHECKPOINT's tree.
func checkExtends(dir, old string, vkeys []string) (map[string]any, error) {
	cp, err := readCheckpointFile(filepath.Join(dir, "checkpoint"), vkeys)
	if err != nil {
		return nil, err
	}
	before, err := readCheckpointFile(old, vkeys)
	if err != nil {
		return nil, err
	}
	if before.origin != cp.origin {
		return nil, fmt.Errorf("origin %q, then %q", before.origin, cp.origin)
	}
	hr := tlog.TileHashReader(cp.tree, tileDir{dir})
	p, err := tlog.ProveTree(cp.tree.N, before.tree.N, hr)
	if err != nil {
		return nil, fmt.Errorf("prove tree: %v", err)
	}
	if err := tlog.CheckTree(p, cp.tree.N, cp.tree.Hash, before.tree.N, before.tree.Hash); err != nil {
		return nil, fmt.Errorf("%d does not extend %d: %v", cp.tree.N, before.tree.N, err)
	}
	return map[string]any{"from": before.tree.N, "to": cp.tree.N}, nil
}

// checkProof checks a tlog-proof@v1 file: header, "index N", base64 hashes, a blank line, the
// signed checkpoint; the event's record hash must prove into the checkpoint's root.
func checkProof(eventPath, proofPath string, vkeys []string) (map[string]any, error) {
	event, err := os.ReadFile(eventPath)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(proofPath)
	if err != nil {
		return nil, err
	}
	head, cpText, found := bytes.Cut(raw, []byte("\n\n"))
	if !found {
		return nil, errors.New("no blank line in the proof file")
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "index ") {
		return nil, fmt.Errorf("not a tlog-proof@v1 header: %q", lines[:2])
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "index "), 10, 64)
	if err != nil {
		return nil, err
	}
	var proof tlog.RecordProof
	for _, line := range lines[2:] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			return nil, fmt.Errorf("proof line %q: %v", line, err)
		}
		proof = append(proof, h)
	}
	cp, err := openCheckpoint(cpText, vkeys)
	if err != nil {
		return nil, err
	}
	if err := tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, index, tlog.RecordHash(event)); err != nil {
		return nil, fmt.Errorf("inclusion: %v", err)
	}
	var body struct {
		Seq     int64  `json:"seq"`
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(event, &body); err != nil {
		return nil, err
	}
	return map[string]any{"origin": cp.origin, "size": cp.tree.N, "index": index, "seq": body.Seq,
		"subject": body.Subject, "signers": cp.signers}, nil
}

// checkConsistency checks prove-consistency's proof between two signed checkpoints' roots.
func checkConsistency(jsonPath, oldPath, newPath string, vkeys []string) (map[string]any, error) {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, err
	}
	var doc struct {
		From  int64    `json:"from"`
		To    int64    `json:"to"`
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	before, err := readCheckpointFile(oldPath, vkeys)
	if err != nil {
		return nil, err
	}
	after, err := readCheckpointFile(newPath, vkeys)
	if err != nil {
		return nil, err
	}
	if doc.From != before.tree.N || doc.To != after.tree.N {
		return nil, fmt.Errorf("proof from %d to %d, checkpoints of %d and %d", doc.From, doc.To, before.tree.N, after.tree.N)
	}
	var proof tlog.TreeProof
	for _, s := range doc.Proof {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, err
		}
		proof = append(proof, h)
	}
	if err := tlog.CheckTree(proof, after.tree.N, after.tree.Hash, before.tree.N, before.tree.Hash); err != nil {
		return nil, fmt.Errorf("consistency: %v", err)
	}
	return map[string]any{"from": doc.From, "to": doc.To}, nil
}
