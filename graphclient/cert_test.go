package graphclient_test

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
)

// PKCS#12 (RFC 7292) as golang.org/x/crypto/pkcs12, which azidentity uses,
// reads it: a password-integrity MAC (HMAC-SHA1), the certificate in a
// plain bag, the key in a PKCS#8 shrouded key bag encrypted with
// pbeWithSHAAnd3-KeyTripleDES-CBC. No PKCS#12 encoder is in go.sum, so the
// test writes one with the standard library.
var (
	oidData         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidShroudedKey  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Cert     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidPBE3DES      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidSHA1         = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	pfxIterations   = 2048
	pfxContentIDKey = byte(1) // RFC 7292 B.3: key material
	pfxContentIDIV  = byte(2) // IV
	pfxContentIDMAC = byte(3) // MAC key
)

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type p12SafeBag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

type p12CertBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

type p12PBEParams struct {
	Salt       []byte
	Iterations int
}

type p12EncryptedKey struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	Salt       []byte
	Iterations int
}

type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData
}

func mustDER(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// explicit0 wraps DER in the [0] EXPLICIT tag.
func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

// bmpPassword is a password as PKCS#12 hashes it: UTF-16BE, NUL-terminated.
func bmpPassword(pw string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(pw)) {
		b = append(b, byte(r>>8), byte(r))
	}
	return append(b, 0, 0)
}

// pkcs12KDF is RFC 7292 appendix B.2 with SHA-1 (u = 20, v = 64).
func pkcs12KDF(password, salt []byte, iterations int, id byte, size int) []byte {
	const u, v = 20, 64
	fill := func(p []byte) []byte {
		if len(p) == 0 {
			return nil
		}
		n := v * ((len(p) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = p[i%len(p)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(password)...)
	var out []byte
	for len(out) < size {
		a := sha1.Sum(append(d, in...))
		for range iterations - 1 {
			a = sha1.Sum(a[:])
		}
		out = append(out, a[:]...)
		// I_j = (I_j + B + 1) mod 2^(v*8), B being A repeated to v bytes.
		b := new(big.Int).SetBytes(fill(a[:u])[:v])
		mod := new(big.Int).Lsh(big.NewInt(1), v*8)
		for j := 0; j < len(in); j += v {
			ij := new(big.Int).SetBytes(in[j : j+v])
			ij.Add(ij, b).Add(ij, big.NewInt(1)).Mod(ij, mod)
			ij.FillBytes(in[j : j+v])
		}
	}
	return out[:size]
}

// writePFX writes a PKCS#12 file of a new self-signed certificate and its
// key under password; it returns the path and the certificate's DER.
func writePFX(t *testing.T, password string) (string, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ca-check pfx"}, NotBefore: now.Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pw := bmpPassword(password)
	salt := func() []byte {
		s := make([]byte, 8)
		rand.Read(s)
		return s
	}

	// The key, encrypted: 3DES-CBC with PKCS#7 padding.
	keySalt := salt()
	block, err := des.NewTripleDESCipher(pkcs12KDF(pw, keySalt, pfxIterations, pfxContentIDKey, 24))
	if err != nil {
		t.Fatal(err)
	}
	pad := des.BlockSize - len(pkcs8)%des.BlockSize
	plain := append(pkcs8, bytes.Repeat([]byte{byte(pad)}, pad)...)
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, pkcs12KDF(pw, keySalt, pfxIterations, pfxContentIDIV, 8)).CryptBlocks(enc, plain)
	shrouded := p12EncryptedKey{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidPBE3DES, Parameters: asn1.RawValue{FullBytes: mustDER(t, p12PBEParams{keySalt, pfxIterations})}},
		Data:      enc,
	}

	data := func(bags []p12SafeBag) p12ContentInfo {
		return p12ContentInfo{ContentType: oidData, Content: explicit0(mustDER(t, mustDER(t, bags)))}
	}
	authSafe := mustDER(t, []p12ContentInfo{
		data([]p12SafeBag{{ID: oidCertBag, Value: explicit0(mustDER(t, p12CertBag{ID: oidX509Cert, Data: certDER}))}}),
		data([]p12SafeBag{{ID: oidShroudedKey, Value: explicit0(mustDER(t, shrouded))}}),
	})
	var mac p12MacData
	mac.Salt, mac.Iterations = salt(), pfxIterations
	h := hmac.New(sha1.New, pkcs12KDF(pw, mac.Salt, pfxIterations, pfxContentIDMAC, 20))
	h.Write(authSafe)
	mac.Mac.Algorithm = pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}
	mac.Mac.Digest = h.Sum(nil)
	pfx := mustDER(t, p12PFX{Version: 3, AuthSafe: p12ContentInfo{ContentType: oidData, Content: explicit0(mustDER(t, authSafe))}, MacData: mac})

	path := filepath.Join(t.TempDir(), "ca-check.pfx")
	if err := os.WriteFile(path, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, certDER
}

// TestPFXCertificate: a password-protected PFX signs the client
// assertions, and the token request carries its certificate (x5c); a
// wrong or missing password is a configuration error that never shows it.
func TestPFXCertificate(t *testing.T) {
	const password = "pfx-Pa55word~secret"
	path, certDER := writePFX(t, password)
	tests := []struct {
		name     string
		password string
		wantErr  bool
	}{
		{"right password", password, false},
		{"wrong password", "not-" + password, true},
		{"no password", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			cfg := config(s)
			cfg.ClientSecret, cfg.ClientCertificatePath, cfg.ClientCertificatePassword = "", path, tt.password
			c, err := graphclient.New(cfg, graphclient.WithHTTPClient(s.Client()), graphclient.WithClock(func() time.Time { return now }))
			if tt.wantErr {
				msg := diagnose.ErrorMessage(err)
				if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(msg, "CACHECK_CLIENT_CERTIFICATE_PASSWORD") {
					t.Errorf("New = %v, want EINVALID asking about the password", err)
				}
				if strings.Contains(msg, password) || tt.password != "" && strings.Contains(msg, tt.password) {
					t.Errorf("the message shows a password: %s", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Diagnose(context.Background(), customerID, scenario()); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range s.Requests() {
				if !strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
					continue
				}
				n++
				form, _ := url.ParseQuery(string(r.Body))
				hdr, _, _ := strings.Cut(form.Get("client_assertion"), ".")
				raw, err := base64.RawURLEncoding.DecodeString(hdr)
				var jwt struct {
					X5C []string `json:"x5c"`
				}
				if err != nil || json.Unmarshal(raw, &jwt) != nil || len(jwt.X5C) == 0 || jwt.X5C[0] != base64.StdEncoding.EncodeToString(certDER) {
					t.Errorf("client assertion header %s does not carry the PFX's certificate", raw)
				}
			}
			if n != 2 {
				t.Errorf("%d token requests, want 2", n)
			}
		})
	}
}
