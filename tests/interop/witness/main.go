// Command witness speaks C2SP tlog-witness (add-checkpoint) from both sides, written from the
// specification's text (tlog-witness, tlog-cosignature, signed-note, tlog-checkpoint) with Go's
// standard library and golang.org/x/mod's sumdb/note (signed notes) and sumdb/tlog (RFC 6962's
// tree and consistency proofs). The tests use it to check auditlog's witness server and client:
//
//	witness checkpoint ENTRIES SIZE ORIGIN [-ext LINE] [-unknown N [-unknown-bytes B]] KEYPEM NAME...
//	        a checkpoint of the first SIZE entries, signed by each key (PKCS#8 Ed25519, type 0x01),
//	        then N signature lines of B bytes by keys no one knows
//	witness add [-tamper proof|short|long|answer] [-repeat] URL WVKEY ENTRIES|- CHECKPOINT OLD
//	        one add-checkpoint request, its proof made by tlog.ProveTree from ENTRIES; the answer
//	        checked as the spec says (a 200's cosignatures under WVKEY, a 409's text/x.tlog.size)
//	witness malformed URL CHECKPOINT KEYPEM NAME
//	        requests the spec says are malformed, each one's status
//	witness serve [-tamper] [-fork-size] [-extra] WNAME ORIGIN VKEY [ORIGIN VKEY...]
//	        a witness on 127.0.0.1 (a free port) keeping its state in memory; its key is made
//	        at start and printed with the URL; each request is logged as JSON on stderr.
//	        -tamper alters its cosignatures; -fork-size answers another root at the same size
//	        with a text/x.tlog.size 409 (the spec names no body for that one); -extra adds lines
//	        by keys the client does not know
//
// ENTRIES is a file of the log's entries, one base64 line each, in order. Each command but
// serve prints one JSON object and exits 0, or prints why the other side broke the spec and
// exits 1.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const sizeType = "text/x.tlog.size"

var decimal = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: witness checkpoint|add|malformed|serve ..."))
	}
	var out any
	var err error
	switch os.Args[1] {
	case "checkpoint":
		var text string
		text, err = cmdCheckpoint(os.Args[2:])
		if err == nil {
			fmt.Print(text)
			return
		}
	case "add":
		out, err = cmdAdd(os.Args[2:])
	case "malformed":
		out, err = cmdMalformed(os.Args[2:])
	case "serve":
		err = cmdServe(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	enc.Encode(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "witness:", err)
	os.Exit(1)
}

// ---- keys (signed-note: key ID = SHA-256(name || 0x0A || type || public key)[:4]) ----

func keyID(name string, typ byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{typ})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// edSigner is a note.Signer for an Ed25519 log key (signature type 0x01).
type edSigner struct {
	name string
	key  ed25519.PrivateKey
}

func (s edSigner) Name() string { return s.name }
func (s edSigner) KeyHash() uint32 {
	return keyID(s.name, 0x01, s.key.Public().(ed25519.PublicKey))
}
func (s edSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

func readPEMKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ed, nil
}

// cosignerKey is a witness's verifier key: name+hex(ID)+base64(0x04 || 32-byte Ed25519 key).
type cosignerKey struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func parseCosignerKey(vkey string) (cosignerKey, error) {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3) // base64 may hold "+"
	if len(parts) != 3 {
		return cosignerKey{}, fmt.Errorf("vkey %q: not name+id+key", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return cosignerKey{}, fmt.Errorf("vkey %q: not a type 0x04 Ed25519 key", vkey)
	}
	k := cosignerKey{name: parts[0], pub: ed25519.PublicKey(raw[1:])}
	k.id = keyID(k.name, 0x04, k.pub)
	if fmt.Sprintf("%08x", k.id) != parts[1] {
		return cosignerKey{}, fmt.Errorf("vkey %q: key ID is not SHA-256(name, 0x0A, 0x04, key)[:4]", vkey)
	}
	return k, nil
}

func (k cosignerKey) vkey() string {
	return fmt.Sprintf("%s+%08x+%s", k.name, k.id, base64.StdEncoding.EncodeToString(append([]byte{0x04}, k.pub...)))
}

// cosignedMessage is tlog-cosignature's Ed25519 signed message.
func cosignedMessage(body string, timestamp uint64) []byte {
	return []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, body))
}

// verifyCosignature checks one signature line's base64 (key ID, u64 timestamp, Ed25519 signature).
func (k cosignerKey) verifyCosignature(b64 string, body string) (uint64, error) {
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) != 4+8+64 {
		return 0, fmt.Errorf("cosignature by %s: not 76 bytes of base64", k.name)
	}
	ts := binary.BigEndian.Uint64(sig[4:12])
	if ts > 1<<63-1 {
		return 0, fmt.Errorf("cosignature by %s: timestamp %d above 2^63-1", k.name, ts)
	}
	if !ed25519.Verify(k.pub, cosignedMessage(body, ts), sig[12:]) {
		return 0, fmt.Errorf("cosignature by %s does not verify", k.name)
	}
	return ts, nil
}

// ---- the log: entries, tree, checkpoints ----

type tree struct{ hashes []tlog.Hash }

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

func readEntries(path string) (*tree, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	t := &tree{}
	var n int64
	scan := bufio.NewScanner(f)
	scan.Buffer(make([]byte, 1<<20), 64<<20)
	for scan.Scan() {
		data, err := base64.StdEncoding.DecodeString(scan.Text())
		if err != nil {
			return nil, 0, fmt.Errorf("%s: entry %d: %v", path, n, err)
		}
		stored, err := tlog.StoredHashes(n, data, t)
		if err != nil {
			return nil, 0, err
		}
		t.hashes = append(t.hashes, stored...)
		n++
	}
	return t, n, scan.Err()
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// parseCheckpoint reads tlog-checkpoint's note text: origin, size, root, then non-empty extension lines.
func parseCheckpoint(text string) (checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, errors.New("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] == "" {
		return checkpoint{}, errors.New("checkpoint: fewer than three lines, or no origin")
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return checkpoint{}, errors.New("checkpoint: an empty extension line")
		}
	}
	if !decimal.MatchString(lines[1]) {
		return checkpoint{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	size, _ := strconv.ParseInt(lines[1], 10, 64)
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root %q", lines[2])
	}
	cp := checkpoint{origin: lines[0], size: size}
	copy(cp.root[:], root)
	return cp, nil
}

// noteText is the text of a signed note (up to the last blank line), unverified.
func noteText(msg []byte) (string, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return "", errors.New("no blank line before the signatures")
	}
	return string(msg[:i+1]), nil
}

// readCheckpoint reads a checkpoint note from a file: its bytes, its text and its body parsed, unverified.
func readCheckpoint(path string) ([]byte, string, checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", checkpoint{}, err
	}
	text, err := noteText(raw)
	if err != nil {
		return nil, "", checkpoint{}, err
	}
	cp, err := parseCheckpoint(text)
	return raw, text, cp, err
}

func cmdCheckpoint(args []string) (string, error) {
	fs := flag.NewFlagSet("checkpoint", flag.ContinueOnError)
	var exts []string
	fs.Func("ext", "an extension line", func(s string) error { exts = append(exts, s); return nil })
	unknown := fs.Int("unknown", 0, "add this many signature lines by keys no one knows")
	unknownBytes := fs.Int("unknown-bytes", 64, "each of those signatures' length, after the key ID")
	if len(args) < 3 {
		return "", errors.New("usage: checkpoint ENTRIES SIZE ORIGIN [-ext LINE] [-unknown N [-unknown-bytes B]] KEYPEM NAME...")
	}
	if err := fs.Parse(args[3:]); err != nil {
		return "", err
	}
	keys := fs.Args()
	if len(keys) == 0 || len(keys)%2 != 0 {
		return "", errors.New("checkpoint: KEYPEM NAME pairs expected")
	}
	t, n, err := readEntries(args[0])
	if err != nil {
		return "", err
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || size < 1 || size > n {
		return "", fmt.Errorf("size %q: 1 to %d", args[1], n)
	}
	root, err := tlog.TreeHash(size, t)
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", args[2], size, base64.StdEncoding.EncodeToString(root[:]))
	for _, ext := range exts {
		text += ext + "\n"
	}
	var signers []note.Signer
	for i := 0; i < len(keys); i += 2 {
		key, err := readPEMKey(keys[i])
		if err != nil {
			return "", err
		}
		signers = append(signers, edSigner{name: keys[i+1], key: key})
	}
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	for i := 0; i < *unknown; i++ {
		sig := make([]byte, 4+*unknownBytes)
		rand.Read(sig)
		msg = append(msg, fmt.Sprintf("— unknown-%d.example %s\n", i, base64.StdEncoding.EncodeToString(sig))...)
	}
	return string(msg), err
}

// ---- the client side ----

type reply struct {
	Status      int      `json:"status"`
	ContentType string   `json:"content_type"`
	Size        *int64   `json:"size,omitempty"`        // a 409's text/x.tlog.size
	Timestamps  []uint64 `json:"cosigned_at,omitempty"` // a 200's cosignatures by WVKEY, verified
	Others      int      `json:"other_lines,omitempty"` // a 200's lines by other keys (ignored)
	Message     string   `json:"message,omitempty"`     // the first line of any other answer
	Reused      bool     `json:"reused_connection,omitempty"`
}

func requestBody(old int64, proof []tlog.Hash, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

func post(client *http.Client, url string, body []byte) (*http.Response, []byte, bool, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, false, err
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, data, reused, err
}

func cmdAdd(args []string) (any, error) {
	fs := flag.NewFlagSet("add", flag.ContinueOnError)
	tamper := fs.String("tamper", "", "proof: flip a bit of the proof; short, long: a hash fewer, more; answer: flip a bit of the cosignature")
	repeat := fs.Bool("repeat", false, "send the request twice on one connection")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 5 {
		return nil, errors.New("usage: add [-tamper proof|short|long|answer] [-repeat] URL WVKEY ENTRIES|- CHECKPOINT OLD")
	}
	url, entries, old := strings.TrimSuffix(fs.Arg(0), "/")+"/add-checkpoint", fs.Arg(2), fs.Arg(4)
	wkey, err := parseCosignerKey(fs.Arg(1))
	if err != nil {
		return nil, err
	}
	cpBytes, body, cp, err := readCheckpoint(fs.Arg(3))
	if err != nil {
		return nil, err
	}
	oldSize, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		return nil, err
	}
	var proof tlog.TreeProof
	if entries != "-" {
		t, n, err := readEntries(entries)
		if err != nil {
			return nil, err
		}
		if cp.size > n {
			return nil, fmt.Errorf("the checkpoint's size %d is beyond the %d entries", cp.size, n)
		}
		if root, err := tlog.TreeHash(cp.size, t); err != nil || root != cp.root {
			return nil, fmt.Errorf("the checkpoint's root is not the tree hash of its %d entries", cp.size)
		}
		if 0 < oldSize && oldSize < cp.size {
			if proof, err = tlog.ProveTree(cp.size, oldSize, t); err != nil {
				return nil, err
			}
		}
	}
	if *tamper != "" && *tamper != "answer" && len(proof) == 0 {
		return nil, errors.New("-tamper: no proof to alter")
	}
	switch *tamper {
	case "proof": // one bit of one hash
		proof[len(proof)/2][7] ^= 0x01
	case "short": // the last hash left out
		proof = proof[:len(proof)-1]
	case "long": // a hash too many
		proof = append(proof, proof[0])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	request := requestBody(oldSize, proof, cpBytes)
	var r reply
	for i := 0; i < 1 || (*repeat && i < 2); i++ {
		resp, data, reused, err := post(client, url, request)
		if err != nil {
			return nil, err
		}
		if r, err = check(resp, data, oldSize, cp, body, wkey, *tamper == "answer"); err != nil {
			return nil, err
		}
		r.Reused = reused
	}
	return r, nil
}

// check reads an add-checkpoint answer as tlog-witness says the witness must give it.
func check(resp *http.Response, data []byte, old int64, cp checkpoint, body string, wkey cosignerKey,
	tamper bool) (reply, error) {
	r := reply{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	media, _, _ := mime.ParseMediaType(r.ContentType)
	switch {
	case r.Status == 200:
		text := string(data)
		if text == "" || !strings.HasSuffix(text, "\n") {
			return r, fmt.Errorf("200: the body is not signature lines ending in a newline: %q", text)
		}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if !strings.HasPrefix(line, "— ") {
				return r, fmt.Errorf("200: %q does not start with U+2014 and a space", line)
			}
			name, b64, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
			raw, err := base64.StdEncoding.DecodeString(b64)
			if !ok || name == "" || err != nil || len(raw) < 5 {
				return r, fmt.Errorf("200: %q is not a note signature line", line)
			}
			if name != wkey.name || binary.BigEndian.Uint32(raw[:4]) != wkey.id {
				r.Others++ // the client MUST ignore cosignatures from unknown keys
				continue
			}
			if tamper {
				raw[len(raw)-1] ^= 0x01
				b64 = base64.StdEncoding.EncodeToString(raw)
			}
			ts, err := wkey.verifyCosignature(b64, body)
			if err != nil {
				return r, err
			}
			if now := uint64(time.Now().Unix()); ts > now+60 || ts+3600 < now {
				return r, fmt.Errorf("cosignature by %s: timestamp %d, now %d", wkey.name, ts, now)
			}
			r.Timestamps = append(r.Timestamps, ts)
		}
		if len(r.Timestamps) == 0 {
			return r, fmt.Errorf("200 without a cosignature by %s+%08x", wkey.name, wkey.id)
		}
	case r.Status == 409 && media == sizeType:
		text := string(data)
		if !strings.HasSuffix(text, "\n") || !decimal.MatchString(strings.TrimSuffix(text, "\n")) {
			return r, fmt.Errorf("409 %s: body %q is not a decimal size and a newline", sizeType, text)
		}
		size, _ := strconv.ParseInt(strings.TrimSuffix(text, "\n"), 10, 64)
		r.Size = &size
	case r.Status == 409 && old != cp.size:
		// with old == size, a 409 may be a root that differs from the witness's (no body is
		// specified); otherwise it can only be another old size, which MUST be text/x.tlog.size
		return r, fmt.Errorf("409 for old size %d of %d without Content-Type %s (%q)", old, cp.size, sizeType,
			r.ContentType)
	default:
		r.Message = strings.SplitN(string(data), "\n", 2)[0]
	}
	return r, nil
}

func cmdMalformed(args []string) (any, error) {
	if len(args) != 4 {
		return nil, errors.New("usage: malformed URL CHECKPOINT KEYPEM NAME")
	}
	url := strings.TrimSuffix(args[0], "/") + "/add-checkpoint"
	cp, body, parsed, err := readCheckpoint(args[1])
	if err != nil {
		return nil, err
	}
	key, err := readPEMKey(args[2])
	if err != nil {
		return nil, err
	}
	signed := func(text string) []byte {
		msg, err := note.Sign(&note.Note{Text: text}, edSigner{name: args[3], key: key})
		if err != nil {
			panic(err)
		}
		return msg
	}
	lines := strings.SplitAfter(body, "\n")
	hash := base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	s := parsed.size
	cases := []struct {
		name string
		body []byte
	}{
		{"old with a leading zero", []byte(fmt.Sprintf("old 0%d\n\n%s", s, cp))},
		{"old negative", []byte(fmt.Sprintf("old -1\n\n%s", cp))},
		{"old not a number", []byte(fmt.Sprintf("old x\n\n%s", cp))},
		{"two spaces after old", []byte(fmt.Sprintf("old  %d\n\n%s", s, cp))},
		{"no old line", []byte(fmt.Sprintf("\n%s", cp))},
		{"OLD in capitals", []byte(fmt.Sprintf("OLD %d\n\n%s", s, cp))},
		{"no empty line", []byte(fmt.Sprintf("old 0\n%s", cp))},
		{"CRLF lines", []byte(fmt.Sprintf("old 0\r\n\r\n%s", cp))},
		{"a proof line that is not base64", []byte(fmt.Sprintf("old 1\n!!!!\n\n%s", cp))},
		{"a proof line of 31 bytes", []byte(fmt.Sprintf("old 1\n%s\n\n%s",
			base64.StdEncoding.EncodeToString(make([]byte, 31)), cp))},
		{"64 proof lines", []byte(fmt.Sprintf("old 1\n%s\n%s", strings.Repeat(hash, 64), cp))},
		{"a proof from size 0", []byte(fmt.Sprintf("old 0\n%s\n%s", hash, cp))},
		{"old above the checkpoint's size", []byte(fmt.Sprintf("old %d\n\n%s", s+1, cp))},
		{"not a note", []byte("old 0\n\nnot a checkpoint\n")},
		{"a checkpoint size with a leading zero",
			[]byte("old 0\n\n" + string(signed(lines[0]+"0"+lines[1]+strings.Join(lines[2:], ""))))},
		{"a checkpoint root of 31 bytes", []byte("old 0\n\n" + string(signed(lines[0]+lines[1]+
			base64.StdEncoding.EncodeToString(make([]byte, 31))+"\n")))},
		{"a checkpoint of two lines", []byte("old 0\n\n" + string(signed(lines[0]+lines[1])))},
	}
	client := &http.Client{Timeout: 30 * time.Second}
	out := map[string]int{}
	for _, c := range cases {
		resp, _, _, err := post(client, url, c.body)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c.name, err)
		}
		out[c.name] = resp.StatusCode
	}
	return out, nil
}

// ---- the witness side ----

type server struct {
	mu       sync.Mutex
	name     string
	key      ed25519.PrivateKey
	id       uint32
	trusted  map[string][]note.Verifier
	latest   map[string]checkpoint // per origin, the latest checkpoint cosigned
	tamper   bool
	forkSize bool
	fork409  bool
	extra    ed25519.PrivateKey // with -extra: a second witness's key, and a line by an unknown key type
}

type answer struct {
	status int
	kind   string
	body   string
}

func text(status int, format string, args ...any) answer {
	return answer{status, "text/plain; charset=utf-8", fmt.Sprintf(format, args...) + "\n"}
}

var oldLine = regexp.MustCompile(`^old (0|[1-9][0-9]{0,18})$`)

func (s *server) addCheckpoint(req []byte) (answer, map[string]any) {
	logged := map[string]any{}
	split := bytes.Index(req, []byte("\n\n"))
	if split < 0 {
		return text(400, "no empty line after the old size and proof lines"), logged
	}
	head, cpBytes := strings.Split(string(req[:split]), "\n"), req[split+2:]
	m := oldLine.FindStringSubmatch(head[0])
	if m == nil {
		return text(400, "the first line is not 'old <size>'"), logged
	}
	old, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return text(400, "old size out of range"), logged
	}
	logged["old"] = old
	var proof tlog.TreeProof
	for _, line := range head[1:] {
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(raw) != tlog.HashSize {
			return text(400, "a proof line is not a base64 hash"), logged
		}
		var h tlog.Hash
		copy(h[:], raw)
		proof = append(proof, h)
	}
	logged["proof"] = len(proof)
	if len(proof) > 63 {
		return text(400, "more than 63 proof lines"), logged
	}
	if old == 0 && len(proof) > 0 {
		return text(400, "a proof from size 0 must be empty"), logged
	}
	unverified, err := noteText(cpBytes)
	if err != nil {
		return text(400, "the checkpoint is not a signed note: %v", err), logged
	}
	if _, err := parseCheckpoint(unverified); err != nil {
		return text(400, "%v", err), logged
	}
	origin, _, _ := strings.Cut(unverified, "\n")
	verifiers, ok := s.trusted[origin]
	if !ok {
		return text(404, "unknown origin %q", origin), logged
	}
	n, err := note.Open(cpBytes, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return text(403, "%v", err), logged
		}
		return text(400, "the checkpoint is not a signed note: %v", err), logged
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil || cp.origin != origin {
		return text(400, "%v", err), logged
	}
	logged["size"] = cp.size
	if old > cp.size {
		return text(400, "old size %d above the checkpoint's %d", old, cp.size), logged
	}

	s.mu.Lock() // the check against the latest checkpoint and its update, at once
	defer s.mu.Unlock()
	latest := s.latest[origin] // size 0 when none
	if old != latest.size {
		return answer{409, sizeType, fmt.Sprintf("%d\n", latest.size)}, logged
	}
	if cp.size == 0 && cp.root != sha256.Sum256(nil) {
		return text(422, "a tree of size 0 has the empty tree's root"), logged
	}
	if old == 0 && len(proof) != 0 {
		return text(422, "a proof from size 0 is empty"), logged
	}
	if old == cp.size {
		if len(proof) != 0 {
			return text(422, "a proof from a size to itself is empty"), logged
		}
		if old > 0 && cp.root != latest.root {
			// 422 since C2SP/C2SP#280 (July 2026); tlog-witness v1.0.0 said 409, with no body named
			switch {
			case s.forkSize:
				return answer{409, sizeType, fmt.Sprintf("%d\n", latest.size)}, logged
			case s.fork409:
				return text(409, "another root at size %d", old), logged
			}
			return text(422, "another root at size %d", old), logged
		}
	} else if old > 0 {
		if err := tlog.CheckTree(proof, cp.size, cp.root, old, latest.root); err != nil {
			return text(422, "consistency proof from %d to %d: %v", old, cp.size, err), logged
		}
	}
	s.latest[origin] = cp
	ts := uint64(time.Now().Unix())
	sig := make([]byte, 12, 76)
	binary.BigEndian.PutUint32(sig, s.id)
	binary.BigEndian.PutUint64(sig[4:], ts)
	sig = append(sig, ed25519.Sign(s.key, cosignedMessage(n.Text, ts))...)
	if s.tamper {
		sig[20] ^= 0x01
	}
	lines := fmt.Sprintf("— %s %s\n", s.name, base64.StdEncoding.EncodeToString(sig))
	if s.extra != nil {
		// a line under this name with another key ID (as a later cosignature type would have),
		// then a valid cosignature by another witness: a client ignores both
		other := make([]byte, 4+8+64)
		binary.BigEndian.PutUint32(other, keyID(s.name, 0x06, s.key.Public().(ed25519.PublicKey)))
		rand.Read(other[4:])
		const name = "witness.interop.example/other"
		second := make([]byte, 12, 76)
		binary.BigEndian.PutUint32(second, keyID(name, 0x04, s.extra.Public().(ed25519.PublicKey)))
		binary.BigEndian.PutUint64(second[4:], ts)
		second = append(second, ed25519.Sign(s.extra, cosignedMessage(n.Text, ts))...)
		lines = fmt.Sprintf("— %s %s\n%s— %s %s\n", s.name, base64.StdEncoding.EncodeToString(other), lines,
			name, base64.StdEncoding.EncodeToString(second))
	}
	return answer{200, "text/plain; charset=utf-8", lines}, logged
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a answer
	logged := map[string]any{}
	if r.URL.Path != "/add-checkpoint" {
		a = text(404, "not found")
	} else if r.Method != "POST" {
		a = text(405, "POST only")
	} else if body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
		a = text(400, "%v", err)
	} else {
		a, logged = s.addCheckpoint(body)
	}
	logged["status"] = a.status
	line, _ := json.Marshal(logged)
	fmt.Fprintln(os.Stderr, string(line))
	w.Header().Set("Content-Type", a.kind)
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	tamper := fs.Bool("tamper", false, "alter every cosignature (a broken witness)")
	forkSize := fs.Bool("fork-size", false, "answer another root at the same size with 409 text/x.tlog.size (v1.0.0)")
	fork409 := fs.Bool("fork-409", false, "answer another root at the same size with a plain 409 (v1.0.0)")
	extra := fs.Bool("extra", false, "answer lines by other keys too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 3 || len(rest)%2 != 1 {
		return errors.New("usage: serve [-tamper] [-fork-size|-fork-409] [-extra] WNAME ORIGIN VKEY [ORIGIN VKEY...]")
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	s := &server{name: rest[0], key: key, id: keyID(rest[0], 0x04, pub), trusted: map[string][]note.Verifier{},
		latest: map[string]checkpoint{}, tamper: *tamper, forkSize: *forkSize, fork409: *fork409}
	if *extra {
		if _, s.extra, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return err
		}
	}
	for i := 1; i < len(rest); i += 2 {
		v, err := note.NewVerifier(rest[i+1])
		if err != nil {
			return fmt.Errorf("vkey %q: %v", rest[i+1], err)
		}
		s.trusted[rest[i]] = append(s.trusted[rest[i]], v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s vkey %s\n", ln.Addr(), cosignerKey{name: s.name, id: s.id, pub: pub}.vkey())
	os.Stdout.Sync()
	return http.Serve(ln, s)
}
