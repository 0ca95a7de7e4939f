package auth_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/auth"
)

// env is a fake environment; files is a fake file system.
type env map[string]string

func (e env) get(k string) string { return e[k] }

type files map[string]string

func (f files) read(name string) ([]byte, error) {
	s, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		files files
		want  auth.Config
	}{
		{
			name: "nothing set is disabled",
			env:  env{},
			want: auth.Config{ProtectReads: true},
		},
		{
			name: "empty variables count as unset",
			env:  env{auth.EnvTokens: "", auth.EnvUsers: " ", auth.EnvTokensFile: "", auth.EnvReads: ""},
			want: auth.Config{ProtectReads: true},
		},
		{
			name: "tokens from the variable, trimmed, blanks and duplicates dropped",
			env:  env{auth.EnvTokens: " alpha, beta,,alpha "},
			want: auth.Config{Tokens: []string{"alpha", "beta"}, ProtectReads: true},
		},
		{
			name:  "tokens from a file with comments and CRLF, merged with the variable",
			env:   env{auth.EnvTokens: "alpha", auth.EnvTokensFile: "/run/secrets/tokens"},
			files: files{"/run/secrets/tokens": "# ops tokens\r\nbeta\r\n\r\n  gamma  \n# old: delta\nalpha\n"},
			want:  auth.Config{Tokens: []string{"alpha", "beta", "gamma"}, ProtectReads: true},
		},
		{
			name: "users from the variable; passwords may hold colons",
			env:  env{auth.EnvUsers: "alice:wonder:land, bob:builder"},
			want: auth.Config{Users: map[string]string{"alice": "wonder:land", "bob": "builder"}, ProtectReads: true},
		},
		{
			name:  "users from a file; passwords may hold commas and #",
			env:   env{auth.EnvUsersFile: "users.txt", auth.EnvUsers: "carol:c"},
			files: files{"users.txt": "# name:password\nalice:a,b#c\n\nbob:builder\n"},
			want:  auth.Config{Users: map[string]string{"alice": "a,b#c", "bob": "builder", "carol": "c"}, ProtectReads: true},
		},
		{
			name: "reads can be opened",
			env:  env{auth.EnvTokens: "alpha", auth.EnvReads: "false"},
			want: auth.Config{Tokens: []string{"alpha"}, ProtectReads: false},
		},
		{
			name: "reads explicitly protected",
			env:  env{auth.EnvTokens: "alpha", auth.EnvReads: " TRUE "},
			want: auth.Config{Tokens: []string{"alpha"}, ProtectReads: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.Load(tt.env.get, tt.files.read)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, len(tt.want.Tokens)+len(tt.want.Users) > 0, got.Enabled())
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const secret = "sup3r-s3cret"
	const bcrypt = "$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	tests := []struct {
		name  string
		env   env
		files files
		want  string // the error names this
	}{
		{"token with a space", env{auth.EnvTokens: "ok, bad " + secret + " x"}, nil, auth.EnvTokens + " entry 2"},
		{"token with non-ASCII", env{auth.EnvTokens: secret + "é"}, nil, auth.EnvTokens + " entry 1"},
		{"token variable lists nothing", env{auth.EnvTokens: " , ,"}, nil, auth.EnvTokens + " is set but lists nothing"},
		{"missing token file", env{auth.EnvTokensFile: "/nope/tokens"}, nil, auth.EnvTokensFile + ": open /nope/tokens"},
		{"empty token file", env{auth.EnvTokensFile: "t"}, files{"t": "# nothing yet\n\n"}, auth.EnvTokensFile + ": file t lists nothing"},
		{"bad line in token file", env{auth.EnvTokensFile: "t"}, files{"t": "good\n" + secret + "\tx\n"}, auth.EnvTokensFile + " line 2"},
		{"user without password", env{auth.EnvUsers: "alice:pw," + secret}, nil, auth.EnvUsers + " entry 2: want user:password"},
		{"empty user name", env{auth.EnvUsers: ":" + secret}, nil, auth.EnvUsers + " entry 1: user name is empty"},
		{"control character in name", env{auth.EnvUsers: "al\x01ice:" + secret}, nil, "control character"},
		{"empty password", env{auth.EnvUsers: "alice:"}, nil, `user "alice" has an empty password`},
		{"duplicate user", env{auth.EnvUsers: "alice:" + secret, auth.EnvUsersFile: "u"}, files{"u": "alice:" + secret + "2"},
			auth.EnvUsersFile + ` line 1: user "alice" is configured twice`},
		{"bcrypt hash", env{auth.EnvUsersFile: "u"}, files{"u": "alice:" + bcrypt}, "bcrypt hashes are not supported"},
		{"missing users file", env{auth.EnvUsersFile: "/nope/users"}, nil, auth.EnvUsersFile + ": open /nope/users"},
		{"bad line in users file", env{auth.EnvUsersFile: "u"}, files{"u": "\n\n" + secret}, auth.EnvUsersFile + " line 3"},
		{"bad reads flag", env{auth.EnvTokens: "x", auth.EnvReads: "sometimes"}, nil, auth.EnvReads},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.Load(tt.env.get, tt.files.read)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), secret, "errors never echo secrets")
			require.NotContains(t, err.Error(), bcrypt)
		})
	}
}

// TestLoadFromRealFiles goes through os.ReadFile and os.Getenv, the
// defaults the server uses.
func TestLoadFromRealFiles(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	users := filepath.Join(dir, "users")
	require.NoError(t, os.WriteFile(tokens, []byte("# deploy bot\nfile-token\n"), 0o600))
	require.NoError(t, os.WriteFile(users, []byte("alice:pw\n"), 0o600))
	t.Setenv(auth.EnvTokensFile, tokens)
	t.Setenv(auth.EnvUsersFile, users)
	t.Setenv(auth.EnvTokens, "env-token")
	t.Setenv(auth.EnvUsers, "")
	t.Setenv(auth.EnvReads, "0")

	c, err := auth.Load(nil, nil)
	require.NoError(t, err)
	require.Equal(t, auth.Config{Tokens: []string{"env-token", "file-token"}, Users: map[string]string{"alice": "pw"}}, c)

	t.Setenv(auth.EnvTokensFile, dir) // a directory cannot be read as a file
	_, err = auth.Load(nil, nil)
	require.ErrorContains(t, err, auth.EnvTokensFile)
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := auth.Config{Tokens: []string{"tok-secret"}, Users: map[string]string{"bob": "pw-secret", "alice": "pw2-secret"}, ProtectReads: true}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		require.NotContains(t, out, "secret", verb)
		require.Contains(t, out, "[alice bob]", verb)
	}
	require.Equal(t, "auth enabled: 1 tokens, users [alice bob], protect reads true", c.String())
	require.Equal(t, "auth disabled", auth.Config{}.String())
}
