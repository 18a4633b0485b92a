package jsonin

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// text returns r as UTF-8 without a byte-order mark: Windows tools
// (PowerShell's > among them) write UTF-16 or a UTF-8 BOM.
func text(r *bufio.Reader) (*bufio.Reader, error) {
	head, _ := r.Peek(3)
	switch {
	case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
		r.Discard(3)
	case len(head) >= 2 && (head[0] == 0xFF && head[1] == 0xFE || head[0] == 0xFE && head[1] == 0xFF):
		order := binary.ByteOrder(binary.LittleEndian)
		if head[0] == 0xFE {
			order = binary.BigEndian
		}
		r.Discard(2)
		return bufio.NewReaderSize(&utf16Reader{r: r, order: order}, 64<<10), nil
	}
	return r, nil
}

// utf16Reader transcodes UTF-16 to UTF-8 as it is read. A lone surrogate
// is an error, as invalid UTF-8 is.
type utf16Reader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	out   []byte // transcoded, not yet returned
	err   error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	if len(u.out) == 0 && u.err == nil {
		u.fill()
	}
	if len(u.out) > 0 {
		n := copy(p, u.out)
		u.out = u.out[n:]
		return n, nil
	}
	return 0, u.err
}

// fill transcodes up to 4096 code units.
func (u *utf16Reader) fill() {
	u.out = u.out[:0]
	for range 4096 {
		c, err := u.unit()
		if err != nil {
			u.err = err
			return
		}
		if utf16.IsSurrogate(c) {
			low, err := u.unit()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				u.err = err
				return
			}
			if c = utf16.DecodeRune(c, low); c == utf8.RuneError {
				u.err = errors.New("invalid UTF-16: a lone surrogate")
				return
			}
		}
		u.out = utf8.AppendRune(u.out, c)
	}
}

// unit reads one UTF-16 code unit.
func (u *utf16Reader) unit() (rune, error) {
	var b [2]byte
	if _, err := io.ReadFull(u.r, b[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, errors.New("UTF-16 input with an odd number of bytes")
		}
		return 0, err
	}
	return rune(u.order.Uint16(b[:])), nil
}
