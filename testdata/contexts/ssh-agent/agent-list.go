// agent-list asks the ssh-agent at $SSH_AUTH_SOCK for its identities (the agent
// protocol's REQUEST_IDENTITIES) and prints one line per key: the SHA256 fingerprint
// of the public key blob, as `ssh-keygen -l` shows it, and the key's comment.
//
// The ssh-agent context builds it (statically, Go standard library only) so that a
// RUN --mount=type=ssh step on the busybox base can prove it reached a real agent.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func readString(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func main() {
	conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent-list:", err)
		os.Exit(1)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0, 0, 0, 1, 11}); err != nil { // SSH2_AGENTC_REQUEST_IDENTITIES
		fmt.Fprintln(os.Stderr, "agent-list:", err)
		os.Exit(1)
	}
	msg, err := readString(conn)
	if err != nil || len(msg) < 5 || msg[0] != 12 { // SSH2_AGENT_IDENTITIES_ANSWER
		fmt.Fprintln(os.Stderr, "agent-list: unexpected answer", err)
		os.Exit(1)
	}
	body := msg[1:]
	count := binary.BigEndian.Uint32(body[:4])
	rest := &sliceReader{body[4:]}
	for i := uint32(0); i < count; i++ {
		blob, err1 := readString(rest)
		comment, err2 := readString(rest)
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "agent-list: truncated answer")
			os.Exit(1)
		}
		sum := sha256.Sum256(blob)
		fmt.Printf("SHA256:%s %s\n", base64.RawStdEncoding.EncodeToString(sum[:]), comment)
	}
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
