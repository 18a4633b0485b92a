// Package redact removes credentials from text bound for a log, an answer
// to the Functions host or a stored record. Azure SDK errors quote the
// request URL, which carries a SAS token when the guard was given a SAS
// connection string; a misplaced setting can hold an account key; a
// service's error message can echo a header. Whatever reaches a person or a
// log passes through String.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "REDACTED"

// rule is one kind of secret: re finds it, keep is the part kept in front
// of the mask.
type rule struct {
	re   *regexp.Regexp
	keep string
}

var rules = []rule{
	// Connection string fields: AccountKey=…; SharedAccessKey=…;
	// SharedAccessSignature=sv=…&sig=…; ClientSecret=…; Password=….
	{regexp.MustCompile(`(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret|Password|Pwd)=[^;"'\s]+`), "${1}="},
	// URL query parameters of SAS tokens and OAuth requests.
	{regexp.MustCompile(`(?i)([?&;\s"']|^)(sig|client_secret|client_assertion|access_token|refresh_token|id_token)=[^&;"'\s]+`), "${1}${2}="},
	// Authorization schemes: a bearer token, a Shared Key signature, a
	// Service Bus or Event Hubs SAS token.
	{regexp.MustCompile(`(?i)\b(Bearer|SharedKey|SharedKeyLite|SharedAccessSignature)\s+[^\s"',]+`), "${1} "},
	// JSON fields that hold a key or a token.
	{regexp.MustCompile(`(?i)("(?:authorization|aeg-sas-key|aeg-sas-token|ocp-apim-subscription-key|x-ms-authorization-auxiliary)"\s*:\s*")[^"]*`), "${1}"},
	// Headers as HTTP dumps print them: the canonical name, so that words
	// such as "linked authorization: …" in a message are kept.
	{regexp.MustCompile(`\b(Authorization|Aeg-Sas-Key|Aeg-Sas-Token|aeg-sas-key|aeg-sas-token|Ocp-Apim-Subscription-Key|X-Ms-Authorization-Auxiliary|x-ms-authorization-auxiliary)(\s*:\s*)[^"\r\n,;]+`), "${1}${2}"},
	// A JSON Web Token anywhere else.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), ""},
}

// markers are lower-case words one of which every secret above contains;
// text without any is returned as is, without running the expressions.
var markers = []string{"key", "sig", "secret", "password", "pwd", "token", "bearer", "authorization", "eyj", "client_assertion"}

// String returns s with every credential it finds masked.
func String(s string) string {
	if !suspect(s) {
		return s
	}
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.keep+Mask)
	}
	return s
}

// Lines masks credentials in each line, in place, and returns lines.
func Lines(lines []string) []string {
	for i, l := range lines {
		lines[i] = String(l)
	}
	return lines
}

func suspect(s string) bool {
	lower := strings.ToLower(s)
	for _, m := range markers {
		if strings.Contains(lower, m) {
			return true
		}
	}
	return false
}
