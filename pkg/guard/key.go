package guard

// EncodeKey makes s usable as a Table Storage PartitionKey or RowKey, which
// forbid '/', '\', '#', '?' and control characters. '/' becomes ':', so a
// resource ID stays readable; every other byte outside [A-Za-z0-9._()-]
// becomes '!' and two hex digits. The percent sign and the single quote are
// escaped too because the service and Azurite mishandle them in keys.
// Distinct inputs give distinct keys.
func EncodeKey(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/':
			b = append(b, ':')
		case keySafe(c):
			b = append(b, c)
		default:
			b = append(b, '!', hex[c>>4], hex[c&0xF])
		}
	}
	return string(b)
}

func keySafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '(' || c == ')' || c == '-'
}
