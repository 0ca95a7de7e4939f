package auth

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The environment variables Load reads.
const (
	EnvTokens     = "VIGIL_API_TOKENS"
	EnvTokensFile = "VIGIL_API_TOKENS_FILE"
	EnvUsers      = "VIGIL_API_USERS"
	EnvUsersFile  = "VIGIL_API_USERS_FILE"
	EnvReads      = "VIGIL_AUTH_READS"
)

// Config says which credentials the API accepts.
type Config struct {
	// Tokens are the accepted bearer tokens.
	Tokens []string
	// Users maps basic-auth user names to plain-text passwords.
	Users map[string]string
	// ProtectReads makes GET requests under /api/ and the WebSocket need a
	// credential too; writes always need one once auth is enabled.
	ProtectReads bool
}

// Enabled reports whether any credential is configured.
func (c Config) Enabled() bool { return len(c.Tokens) > 0 || len(c.Users) > 0 }

// String describes c without its secrets, so that printing a Config (by
// accident, in a log or an error) never leaks one.
func (c Config) String() string {
	if !c.Enabled() {
		return "auth disabled"
	}
	users := make([]string, 0, len(c.Users))
	for u := range c.Users {
		users = append(users, u)
	}
	slices.Sort(users)
	return fmt.Sprintf("auth enabled: %d tokens, users %v, protect reads %t", len(c.Tokens), users, c.ProtectReads)
}

// GoString keeps %#v from printing the secrets String hides.
func (c Config) GoString() string { return "auth.Config{" + c.String() + "}" }

// Load reads the configuration from the environment through getenv, and
// from the files the *_FILE variables name through readFile (os.Getenv and
// os.ReadFile when nil). Tokens and users may come from both a variable and
// its file; they are merged. An empty variable counts as unset.
//
// Errors name the variable, the file line or the entry number, never the
// offending value: it is likely a secret.
func Load(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	c := Config{ProtectReads: true}

	tokens, err := entries(getenv, readFile, EnvTokens, EnvTokensFile)
	if err != nil {
		return Config{}, err
	}
	for _, e := range tokens {
		if err := validToken(e.value); err != nil {
			return Config{}, fmt.Errorf("%s: %w", e.where, err)
		}
		if !slices.Contains(c.Tokens, e.value) {
			c.Tokens = append(c.Tokens, e.value)
		}
	}

	users, err := entries(getenv, readFile, EnvUsers, EnvUsersFile)
	if err != nil {
		return Config{}, err
	}
	for _, e := range users {
		name, password, err := parseUser(e.value)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", e.where, err)
		}
		if c.Users == nil {
			c.Users = map[string]string{}
		}
		if _, dup := c.Users[name]; dup {
			return Config{}, fmt.Errorf("%s: user %q is configured twice", e.where, name)
		}
		c.Users[name] = password
	}

	if v := strings.TrimSpace(getenv(EnvReads)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %q is not true or false", EnvReads, v)
		}
		c.ProtectReads = b
	}
	return c, nil
}

// entry is one configured secret and where it came from, for errors.
type entry struct {
	value string
	where string
}

// entries collects the comma-separated values of variable env and the
// lines of the file named by fileEnv. Lines are trimmed, and blank lines
// and lines starting with # are skipped; a variable or file that is set
// but holds nothing is an error, because it would silently leave auth off.
func entries(getenv func(string) string, readFile func(string) ([]byte, error), env, fileEnv string) ([]entry, error) {
	var out []entry
	if v := getenv(env); strings.TrimSpace(v) != "" {
		n := 0
		for part := range strings.SplitSeq(v, ",") {
			n++
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, entry{value: p, where: fmt.Sprintf("%s entry %d", env, n)})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s is set but lists nothing", env)
		}
	}
	path := strings.TrimSpace(getenv(fileEnv))
	if path == "" {
		return out, nil
	}
	data, err := readFile(path)
	if err != nil {
		// The error names the path (not secret) and the cause; never the
		// contents, since we have none.
		return nil, fmt.Errorf("%s: %w", fileEnv, err)
	}
	before := len(out)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, entry{value: line, where: fmt.Sprintf("%s line %d", fileEnv, i+1)})
	}
	if len(out) == before {
		return nil, fmt.Errorf("%s: file %s lists nothing", fileEnv, path)
	}
	return out, nil
}

var errTokenChars = errors.New("token must be printable ASCII without spaces or commas")

// validToken accepts what a client can send unchanged in an Authorization
// header: printable ASCII without spaces. Commas are refused because they
// separate tokens in VIGIL_API_TOKENS.
func validToken(t string) error {
	for i := range len(t) {
		if c := t[i]; c <= ' ' || c > '~' || c == ',' {
			return errTokenChars
		}
	}
	return nil
}

// parseUser splits "name:password". Names cannot hold a colon (basic auth
// splits on the first one); passwords can.
func parseUser(s string) (name, password string, err error) {
	name, password, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	switch {
	case !ok:
		return "", "", errors.New("want user:password")
	case name == "":
		return "", "", errors.New("user name is empty")
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", "", errors.New("user name contains a control character")
	case password == "":
		return "", "", fmt.Errorf("user %q has an empty password", name)
	case isBcrypt(password):
		// golang.org/x/crypto is not a dependency; refusing a hash beats
		// silently treating it as a plain password nobody can type.
		return "", "", fmt.Errorf("user %q: bcrypt hashes are not supported, give the plain password", name)
	}
	return name, password, nil
}

// isBcrypt ignores the length on purpose: a truncated hash pasted by
// mistake should be refused too, and no sane password starts like one.
func isBcrypt(p string) bool {
	return strings.HasPrefix(p, "$2a$") || strings.HasPrefix(p, "$2b$") || strings.HasPrefix(p, "$2y$")
}
