package tlsterm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity periods and the CA's subject.
const (
	caCommonName = "krbfarm lab CA"
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// backdate absorbs small clock differences between hosts of the lab.
	backdate = time.Hour
)

// CA is a lab certificate authority: one self-signed ECDSA P-256 root whose
// key stays on disk next to its certificate. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA loads the CA from certFile and keyFile when both exist, and
// otherwise creates a new one and writes the certificate and the key there
// (mode 0600). If only one of the two files exists it fails rather than
// overwrite it. It reuses a CA only if this user owns both files, no one
// else can write them and no one else can read the key: otherwise another
// user may hold the key of a CA that browsers are told to trust, and it
// fails with an *UnsafeCAFileError.
func NewCA(certFile, keyFile string) (*CA, error) {
	certOK, err := exists(certFile)
	if err != nil {
		return nil, err
	}
	keyOK, err := exists(keyFile)
	if err != nil {
		return nil, err
	}
	switch {
	case certOK && keyOK:
		return loadCA(certFile, keyFile)
	case certOK:
		return nil, fmt.Errorf("CA certificate %s exists but its key %s does not", certFile, keyFile)
	case keyOK:
		return nil, fmt.Errorf("CA key %s exists but its certificate %s does not", keyFile, certFile)
	}
	ca, err := createCA()
	if err != nil {
		return nil, err
	}
	if err := writePair(ca.cert.Raw, ca.key, certFile, keyFile); err != nil {
		return nil, err
	}
	return ca, nil
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPool returns a pool holding only this CA, for tls.Config.RootCAs.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// Issue mints a server certificate for names and writes it to certFile and
// its key to keyFile (mode 0600). Names that parse as IP addresses become IP
// SANs, the others DNS SANs; the first name is also the subject's CN. The
// file holds the leaf only: clients trust the CA itself (curl --cacert).
func (ca *CA) Issue(names []string, certFile, keyFile string) error {
	if len(names) == 0 {
		return errors.New("issue certificate: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("issue certificate: generate key: %w", err)
	}
	tmpl, err := leafTemplate(names)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("issue certificate for %v: %w", names, err)
	}
	return writePair(der, key, certFile, keyFile)
}

func createCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{cert: cert, key: key}, nil
}

func leafTemplate(names []string) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return tmpl, nil
}

func loadCA(certFile, keyFile string) (*CA, error) {
	if err := checkCAFile(certFile, 0o022); err != nil {
		return nil, err
	}
	if err := checkCAFile(keyFile, 0o077); err != nil {
		return nil, err
	}
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %s: not a CA certificate", certFile)
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, err
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok || !ecKey.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not match certificate %s", keyFile, certFile)
	}
	return &CA{cert: cert, key: ecKey}, nil
}

func readCert(file string) (*x509.Certificate, error) {
	block, err := readPEM(file, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	return cert, nil
}

func readKey(file string) (crypto.Signer, error) {
	block, err := readPEM(file, "")
	if err != nil {
		return nil, err
	}
	var key any
	if block.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s: unsupported key type %T", file, key)
	}
	return signer, nil
}

// readPEM returns the first PEM block of file; want, if not empty, is the
// block type it must have.
func readPEM(file, want string) (*pem.Block, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err // *fs.PathError already names the file
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM data", file)
	}
	if want != "" && block.Type != want {
		return nil, fmt.Errorf("%s: PEM block is %q, want %q", file, block.Type, want)
	}
	return block, nil
}

func writePair(certDER []byte, key *ecdsa.PrivateKey, certFile, keyFile string) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key for %s: %w", keyFile, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	return writeFile(certFile, certPEM, 0o600)
}

// writeFile replaces file atomically: a temporary file in the same folder,
// created private, gets the data and the final mode, then is renamed. A
// reader never sees half a file, and a key is never readable by others.
func writeFile(file string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return os.Rename(tmp.Name(), file)
}

func exists(file string) (bool, error) {
	_, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return serial, nil
}
