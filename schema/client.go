package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/tlsfiles"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// Client talks to a Confluent Schema Registry over its REST API. It is safe
// for concurrent use. Schemas by ID and the IDs of registered or looked-up
// schemas are cached for the life of the client (the registry never
// changes them), so a serde in steady state makes no HTTP call; concurrent
// misses for the same key make one request. Latest versions and
// configuration are not cached.
type Client struct {
	base     *url.URL
	baseText string // scheme://host[/prefix], no trailing slash
	cfg      clientConfig
	http     *http.Client
	byID     *flightCache[int, Schema]
	ids      *flightCache[subjectSchemaKey, int]
	lookups  *flightCache[subjectSchemaKey, Schema]
	tel      *clientTelemetry
}

type subjectSchemaKey struct {
	subject, typ, canonical string
}

// NewClient returns a client for the registry at baseURL (http or https,
// with an optional path prefix). A bad URL or option is an error wrapping
// [ErrInvalidConfig]. It makes no request.
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, invalidConfig("registry URL %q: %v", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidConfig("registry URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	cfg := clientConfig{
		timeout:    DefaultTimeout,
		retries:    DefaultRetries,
		backoff:    DefaultRetryBackoff,
		maxBackoff: DefaultMaxBackoff,
		userAgent:  "bulwark-schema",
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if f := cfg.tlsFiles; f != nil {
		tc, err := tlsfiles.Load(cfg.tls, f[0], f[1], f[2], time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: WithTLSFiles: %w", ErrInvalidConfig, err)
		}
		cfg.tls, cfg.tlsFiles = tc, nil
	}
	hc := cfg.httpClient
	if hc != nil && cfg.tls != nil {
		return nil, invalidConfig("WithTLS and WithHTTPClient together: set TLS on the HTTP client's transport")
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.tls != nil {
			tr.TLSClientConfig = cfg.tls
		}
		hc = &http.Client{Transport: tr}
	}
	if cfg.basicAuth && cfg.tokenSource != nil {
		return nil, invalidConfig("both basic auth and a bearer token configured; pick one")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	u.RawQuery, u.Fragment = "", ""
	tel, err := newClientTelemetry(cfg.meters, u)
	if err != nil {
		return nil, err
	}
	return &Client{
		tel:      tel,
		base:     u,
		baseText: u.String(),
		cfg:      cfg,
		http:     hc,
		byID:     newFlightCache[int, Schema](),
		ids:      newFlightCache[subjectSchemaKey, int](),
		lookups:  newFlightCache[subjectSchemaKey, Schema](),
	}, nil
}

// Close releases idle connections. The client must not be used afterwards
// (it still works, but reopens connections). Close is idempotent.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

type schemaRequest struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
}

func newSchemaRequest(s Schema) schemaRequest {
	req := schemaRequest{Schema: s.Text}
	if t := schemaType(s); t != TypeAvro {
		req.SchemaType = t
	}
	return req
}

type schemaResponse struct {
	Subject    string `json:"subject"`
	ID         int    `json:"id"`
	Version    int    `json:"version"`
	SchemaType string `json:"schemaType"`
	Schema     string `json:"schema"`
}

func (r schemaResponse) toSchema() Schema {
	t := r.SchemaType
	if t == "" {
		t = TypeAvro
	}
	return Schema{ID: r.ID, Subject: r.Subject, Version: r.Version, Type: t, Text: r.Schema}
}

func keyFor(subject string, s Schema) subjectSchemaKey {
	return subjectSchemaKey{subject: subject, typ: schemaType(s), canonical: canonicalText(s)}
}

// Register registers schema under subject (a new version, unless the
// subject already has it) and returns its ID. The result is cached.
// Errors: ErrIncompatibleSchema (with the registry's reasons in
// [RegistryError].Reasons), ErrInvalidSchema.
func (c *Client) Register(ctx context.Context, subject string, schema Schema) (int, error) {
	return c.ids.get(ctx, keyFor(subject, schema), func(ctx context.Context) (int, error) {
		var resp struct {
			ID int `json:"id"`
		}
		err := c.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", nil, newSchemaRequest(schema), &resp)
		return resp.ID, err
	})
}

// Lookup finds schema among subject's versions. Errors: ErrSubjectNotFound,
// ErrSchemaNotFound. The result is cached.
func (c *Client) Lookup(ctx context.Context, subject string, schema Schema) (Schema, error) {
	return c.lookups.get(ctx, keyFor(subject, schema), func(ctx context.Context) (Schema, error) {
		var resp schemaResponse
		if err := c.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject), nil, newSchemaRequest(schema), &resp); err != nil {
			return Schema{}, err
		}
		if resp.Subject == "" {
			resp.Subject = subject
		}
		return resp.toSchema(), nil
	})
}

// SchemaByID returns the schema with the given ID (Subject and Version
// unset). Error: ErrSchemaNotFound. The result is cached.
func (c *Client) SchemaByID(ctx context.Context, id int) (Schema, error) {
	return c.byID.get(ctx, id, func(ctx context.Context) (Schema, error) {
		var resp schemaResponse
		if err := c.do(ctx, http.MethodGet, "/schemas/ids/"+strconv.Itoa(id), nil, nil, &resp); err != nil {
			return Schema{}, err
		}
		resp.ID = id
		return resp.toSchema(), nil
	})
}

// LatestSchema returns the latest version of subject. Not cached.
func (c *Client) LatestSchema(ctx context.Context, subject string) (Schema, error) {
	return c.schemaVersion(ctx, subject, "latest")
}

// SchemaVersion returns the given version of subject. Errors:
// ErrSubjectNotFound, ErrVersionNotFound.
func (c *Client) SchemaVersion(ctx context.Context, subject string, version int) (Schema, error) {
	return c.schemaVersion(ctx, subject, strconv.Itoa(version))
}

func (c *Client) schemaVersion(ctx context.Context, subject, version string) (Schema, error) {
	var resp schemaResponse
	if err := c.do(ctx, http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions/"+version, nil, nil, &resp); err != nil {
		return Schema{}, err
	}
	s := resp.toSchema()
	c.byID.put(s.ID, Schema{ID: s.ID, Type: s.Type, Text: s.Text})
	return s, nil
}

// Subjects lists the registered subjects.
func (c *Client) Subjects(ctx context.Context) ([]string, error) {
	var out []string
	err := c.do(ctx, http.MethodGet, "/subjects", nil, nil, &out)
	return out, err
}

// Versions lists the versions of subject. Error: ErrSubjectNotFound.
func (c *Client) Versions(ctx context.Context, subject string) ([]int, error) {
	var out []int
	err := c.do(ctx, http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil, nil, &out)
	return out, err
}

func permanentQuery(permanent bool) url.Values {
	if !permanent {
		return nil
	}
	return url.Values{"permanent": {"true"}}
}

// DeleteSubject deletes subject and returns the versions it had. A soft
// delete (permanent false) can be followed by a permanent one.
func (c *Client) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	var out []int
	err := c.do(ctx, http.MethodDelete, "/subjects/"+url.PathEscape(subject), permanentQuery(permanent), nil, &out)
	c.forgetSubject(subject)
	return out, err
}

// DeleteVersion deletes one version of subject.
func (c *Client) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) error {
	var out int
	err := c.do(ctx, http.MethodDelete, "/subjects/"+url.PathEscape(subject)+"/versions/"+strconv.Itoa(version), permanentQuery(permanent), nil, &out)
	c.forgetSubject(subject)
	return err
}

func (c *Client) forgetSubject(subject string) {
	match := func(k subjectSchemaKey) bool { return k.subject == subject }
	c.ids.deleteIf(match)
	c.lookups.deleteIf(match)
}

// TestCompatibility asks the registry whether schema could be registered
// under subject at the subject's compatibility level, and why not. A
// subject with no versions accepts anything.
func (c *Client) TestCompatibility(ctx context.Context, subject string, schema Schema) (compatible bool, reasons []string, err error) {
	var resp struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	q := url.Values{"verbose": {"true"}}
	err = c.do(ctx, http.MethodPost, "/compatibility/subjects/"+url.PathEscape(subject)+"/versions", q, newSchemaRequest(schema), &resp)
	if errors.Is(err, ErrSubjectNotFound) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return resp.IsCompatible, resp.Messages, nil
}

// Compatibility returns the compatibility level of subject, falling back
// to the global level when the subject has none; subject "" asks for the
// global level.
func (c *Client) Compatibility(ctx context.Context, subject string) (Compatibility, error) {
	var resp struct {
		Level string `json:"compatibilityLevel"`
	}
	path, q := "/config", url.Values(nil)
	if subject != "" {
		path += "/" + url.PathEscape(subject)
		q = url.Values{"defaultToGlobal": {"true"}}
	}
	if err := c.do(ctx, http.MethodGet, path, q, nil, &resp); err != nil {
		return "", err
	}
	return Compatibility(resp.Level), nil
}

// SetCompatibility sets the compatibility level of subject, or the global
// level for subject "". An unknown level is refused locally with
// ErrInvalidCompatibility.
func (c *Client) SetCompatibility(ctx context.Context, subject string, level Compatibility) error {
	if !level.Valid() {
		return fmt.Errorf("%w: %q", ErrInvalidCompatibility, level)
	}
	path := "/config"
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	body := struct {
		Compatibility string `json:"compatibility"`
	}{string(level)}
	var resp json.RawMessage
	return c.do(ctx, http.MethodPut, path, nil, body, &resp)
}

// do sends one request with retries and decodes the JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("schema registry: encoding request: %w", err)
		}
	}
	// path is already escaped; the base URL is kept as the user wrote it.
	target := c.baseText + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}

	// Full jitter keeps many clients from retrying in step.
	retry := backoff.Policy{Initial: c.cfg.backoff, Max: c.cfg.maxBackoff, Jitter: backoff.Full}
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, method, target, body, out)
		if err == nil {
			return nil
		}
		if attempt >= c.cfg.retries || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			// The caller's context ended during the attempt: that, not the
			// attempt's (retryable) failure, is why this call gives up.
			return fmt.Errorf("%w (while retrying after: %v)", ctx.Err(), err)
		}
		if serr := (clock.Wall{}).Sleep(ctx, retry.Delay(attempt+1)); serr != nil {
			return fmt.Errorf("%w (while retrying after: %v)", serr, err)
		}
	}
}

// errNoCredentials marks a failed token source, which retries won't fix.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "schema registry: bearer token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// retryable reports whether the client retries a failed attempt at once:
// when the registry is unavailable (see registryUnavailable), except for a
// failing token source or an unreadable answer, which an immediate retry
// would meet again.
func retryable(err error) bool {
	var te *tokenError
	var de *decodeAnswerError
	if errors.As(err, &te) || errors.As(err, &de) {
		return false
	}
	return registryUnavailable(err)
}

// decodeAnswerError is a 2xx answer we cannot read; not retried.
type decodeAnswerError struct{ err error }

func (e *decodeAnswerError) Error() string {
	return "schema registry: unreadable answer: " + e.err.Error()
}
func (e *decodeAnswerError) Unwrap() error { return e.err }

func (c *Client) attempt(ctx context.Context, method, target string, body []byte, out any) (err error) {
	callCtx, start, status := ctx, time.Now(), 0
	defer func() { c.tel.request(callCtx, method, start, status, err) }()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	req.Header.Set("Accept", contentType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cfg.userAgent != "" {
		req.Header.Set("User-Agent", c.cfg.userAgent)
	}
	if c.cfg.basicAuth {
		req.SetBasicAuth(c.cfg.user, c.cfg.pass)
	}
	if c.cfg.tokenSource != nil {
		tok, err := c.cfg.tokenSource(ctx)
		if err != nil {
			return &tokenError{err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry: %s %s: %w", method, redact(target), err)
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry: reading answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return parseErrorBody(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &decodeAnswerError{err}
	}
	return nil
}

func redact(target string) string {
	if u, err := url.Parse(target); err == nil {
		return u.Redacted()
	}
	return "registry"
}

var reasonPattern = regexp.MustCompile(`description:'(.*?)'(?:, additionalInfo:|\})`)

func parseErrorBody(status int, data []byte) error {
	var body struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	e := &RegistryError{StatusCode: status, Code: status}
	if json.Unmarshal(data, &body) == nil && body.Code != 0 {
		e.Code, e.Message = body.Code, body.Message
	} else {
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if e.Code == CodeIncompatibleSchema {
		for _, m := range reasonPattern.FindAllStringSubmatch(e.Message, -1) {
			e.Reasons = append(e.Reasons, m[1])
		}
	}
	return e
}
