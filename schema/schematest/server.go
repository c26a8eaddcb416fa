package schematest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark/schema"
)

type config struct {
	compat     schema.Compatibility
	firstID    int
	user, pass string
	token      string
}

// Option configures the in-memory registry.
type Option func(*config)

// WithCompatibility sets the global compatibility level. Default
// schema.CompatBackward, as in the real registry.
func WithCompatibility(level schema.Compatibility) Option {
	return func(c *config) { c.compat = level }
}

// WithFirstID sets the ID of the first schema registered (later ones
// count up from it). Default 1. Useful to test IDs above 2^24.
func WithFirstID(id int) Option {
	return func(c *config) { c.firstID = id }
}

// WithBasicAuth makes the registry require these credentials (401 with
// error code 40101 otherwise).
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.pass = user, password }
}

// WithBearerToken makes the registry require this bearer token.
func WithBearerToken(token string) Option {
	return func(c *config) { c.token = token }
}

// Server is an in-memory schema registry behind an httptest server. It
// speaks the subset of the Confluent REST API that package schema uses:
// registering, looking up and fetching schemas, versions, deletes (soft
// and permanent), compatibility tests and levels, with compatibility
// enforced by schema.CheckCompatibility and errors in the registry's
// {"error_code", "message"} bodies.
type Server struct {
	srv      *httptest.Server
	handler  *Handler
	requests atomic.Int64
}

// NewServer starts a registry on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{handler: NewHandler(opts...)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.handler.ServeHTTP(w, r)
	}))
	return s
}

// URL is the base URL to give schema.NewClient.
func (s *Server) URL() string { return s.srv.URL }

// Requests counts the HTTP requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close shuts the server down. Idempotent.
func (s *Server) Close() {
	s.srv.Close()
}

// Handler is the in-memory registry as an http.Handler, for tests that
// wrap it (to inject faults, delays or count requests their own way).
type Handler struct {
	cfg config
	mux *http.ServeMux

	mu       sync.Mutex
	schemas  []storedSchema // index: id - firstID
	subjects map[string]*subject
	global   schema.Compatibility
}

type storedSchema struct {
	typ, text, canon string
}

type subject struct {
	versions []*version
	compat   schema.Compatibility
}

type version struct {
	number, id int
	deleted    bool
}

func (s *subject) live() []*version {
	var out []*version
	for _, v := range s.versions {
		if !v.deleted {
			out = append(out, v)
		}
	}
	return out
}

// NewHandler returns an empty in-memory registry.
func NewHandler(opts ...Option) *Handler {
	cfg := config{compat: schema.CompatBackward, firstID: 1}
	for _, o := range opts {
		o(&cfg)
	}
	h := &Handler{cfg: cfg, subjects: map[string]*subject{}, global: cfg.compat}
	m := http.NewServeMux()
	m.HandleFunc("GET /subjects", h.listSubjects)
	m.HandleFunc("GET /subjects/{subject}/versions", h.listVersions)
	m.HandleFunc("POST /subjects/{subject}/versions", h.register)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}", h.getVersion)
	m.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	m.HandleFunc("POST /subjects/{subject}", h.lookup)
	m.HandleFunc("DELETE /subjects/{subject}", h.deleteSubject)
	m.HandleFunc("GET /schemas/ids/{id}", h.schemaByID)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.testCompatibility)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.testCompatibility)
	m.HandleFunc("GET /config", h.getConfig)
	m.HandleFunc("PUT /config", h.putConfig)
	m.HandleFunc("GET /config/{subject}", h.getConfig)
	m.HandleFunc("PUT /config/{subject}", h.putConfig)
	m.HandleFunc("DELETE /config/{subject}", h.deleteConfig)
	h.mux = m
	return h
}

// ServeHTTP serves the registry API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		writeError(w, http.StatusUnauthorized, 40101, "Unauthorized")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != h.cfg.user || p != h.cfg.pass {
			return false
		}
	}
	if h.cfg.token != "" && r.Header.Get("Authorization") != "Bearer "+h.cfg.token {
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"error_code": code, "message": msg})
}

type schemaBody struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
}

func readSchema(w http.ResponseWriter, r *http.Request) (schemaBody, bool) {
	var b schemaBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeError(w, http.StatusUnprocessableEntity, 42201, "Invalid schema: request body is not JSON: "+err.Error())
		return b, false
	}
	if b.SchemaType == "" {
		b.SchemaType = schema.TypeAvro
	}
	return b, true
}

// canonical validates an Avro schema and returns its canonical text; other
// types are compared as given.
func canonical(b schemaBody) (string, error) {
	if b.SchemaType != schema.TypeAvro {
		return b.Schema, nil
	}
	return schema.CanonicalForm(b.Schema)
}

func (h *Handler) listSubjects(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []string{}
	for name, s := range h.subjects {
		if len(s.live()) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	writeJSON(w, http.StatusOK, out)
}

// liveSubject returns a subject with live versions, or writes 40401.
func (h *Handler) liveSubject(w http.ResponseWriter, name string) (*subject, bool) {
	s, ok := h.subjects[name]
	if !ok || len(s.live()) == 0 {
		writeError(w, http.StatusNotFound, schema.CodeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", name))
		return nil, false
	}
	return s, true
}

func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.liveSubject(w, r.PathValue("subject"))
	if !ok {
		return
	}
	out := []int{}
	for _, v := range s.live() {
		out = append(out, v.number)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) level(s *subject) schema.Compatibility {
	if s != nil && s.compat != "" {
		return s.compat
	}
	return h.global
}

// incompatibilities checks text against the live versions of s per level
// (only against one version when only is non-nil).
func (h *Handler) incompatibilities(s *subject, level schema.Compatibility, b schemaBody, only *version) []string {
	if b.SchemaType != schema.TypeAvro || s == nil {
		return nil
	}
	var previous []string
	for _, v := range s.live() {
		if only != nil && v != only {
			continue
		}
		st := h.schemas[v.id-h.cfg.firstID]
		if st.typ == schema.TypeAvro {
			previous = append(previous, st.text)
		}
	}
	reasons, err := schema.CheckCompatibility(level, b.Schema, previous...)
	if err != nil {
		return []string{err.Error()}
	}
	return reasons
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	canon, err := canonical(b)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidSchema, "Invalid schema: "+err.Error())
		return
	}
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.subjects[name]
	if s != nil {
		for _, v := range s.live() {
			st := h.schemas[v.id-h.cfg.firstID]
			if st.typ == b.SchemaType && st.canon == canon {
				writeJSON(w, http.StatusOK, map[string]int{"id": v.id})
				return
			}
		}
	}
	if reasons := h.incompatibilities(s, h.level(s), b, nil); len(reasons) > 0 {
		details := make([]string, len(reasons))
		for i, reason := range reasons {
			details[i] = fmt.Sprintf("{errorType:'INCOMPATIBLE', description:'%s'}", reason)
		}
		writeError(w, http.StatusConflict, schema.CodeIncompatibleSchema, fmt.Sprintf(
			"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s, {compatibility: '%s'}]",
			name, strings.Join(details, ", "), h.level(s)))
		return
	}
	id := -1
	for i, st := range h.schemas {
		if st.typ == b.SchemaType && st.canon == canon {
			id = i + h.cfg.firstID
		}
	}
	if id < 0 {
		h.schemas = append(h.schemas, storedSchema{typ: b.SchemaType, text: b.Schema, canon: canon})
		id = len(h.schemas) - 1 + h.cfg.firstID
	}
	if s == nil {
		s = &subject{}
		h.subjects[name] = s
	}
	next := 1
	if n := len(s.versions); n > 0 {
		next = s.versions[n-1].number + 1
	}
	s.versions = append(s.versions, &version{number: next, id: id})
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

func (h *Handler) versionResponse(name string, v *version) map[string]any {
	st := h.schemas[v.id-h.cfg.firstID]
	out := map[string]any{"subject": name, "id": v.id, "version": v.number, "schema": st.text}
	if st.typ != schema.TypeAvro {
		out["schemaType"] = st.typ
	}
	return out
}

func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	canon, err := canonical(b)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidSchema, "Invalid schema: "+err.Error())
		return
	}
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.liveSubject(w, name)
	if !ok {
		return
	}
	for _, v := range s.live() {
		st := h.schemas[v.id-h.cfg.firstID]
		if st.typ == b.SchemaType && st.canon == canon {
			writeJSON(w, http.StatusOK, h.versionResponse(name, v))
			return
		}
	}
	writeError(w, http.StatusNotFound, schema.CodeSchemaNotFound, "Schema not found")
}

// findVersion resolves "latest", -1 or a number among the live versions,
// writing the error answer when it cannot.
func (h *Handler) findVersion(w http.ResponseWriter, s *subject, raw string) (*version, bool) {
	live := s.live()
	if raw == "latest" || raw == "-1" {
		return live[len(live)-1], true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidVersion,
			fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", raw))
		return nil, false
	}
	for _, v := range live {
		if v.number == n {
			return v, true
		}
	}
	writeError(w, http.StatusNotFound, schema.CodeVersionNotFound, fmt.Sprintf("Version %d not found.", n))
	return nil, false
}

func (h *Handler) getVersion(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.liveSubject(w, name)
	if !ok {
		return
	}
	v, ok := h.findVersion(w, s, r.PathValue("version"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.versionResponse(name, v))
}

func (h *Handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("subject")
	permanent := r.URL.Query().Get("permanent") == "true"
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.subjects[name]
	if !ok {
		writeError(w, http.StatusNotFound, schema.CodeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", name))
		return
	}
	live := s.live()
	switch {
	case permanent && len(live) > 0:
		writeError(w, http.StatusNotFound, schema.CodeSubjectNotSoftDeleted,
			fmt.Sprintf("Subject '%s' was not deleted first before being permanently deleted", name))
		return
	case !permanent && len(live) == 0:
		writeError(w, http.StatusNotFound, schema.CodeSubjectSoftDeleted,
			fmt.Sprintf("Subject '%s' was soft deleted.Set permanent=true to delete permanently", name))
		return
	}
	out := []int{}
	for _, v := range s.versions {
		out = append(out, v.number)
		v.deleted = true
	}
	if permanent {
		delete(h.subjects, name)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("subject")
	permanent := r.URL.Query().Get("permanent") == "true"
	raw := r.PathValue("version")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.subjects[name]
	if !ok {
		writeError(w, http.StatusNotFound, schema.CodeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", name))
		return
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidVersion, fmt.Sprintf("The specified version '%s' is not a valid version id.", raw))
		return
	}
	for i, v := range s.versions {
		if v.number != n {
			continue
		}
		switch {
		case permanent && !v.deleted:
			writeError(w, http.StatusNotFound, schema.CodeVersionNotSoftDeleted,
				fmt.Sprintf("Subject '%s' Version %d was not deleted first before being permanently deleted", name, n))
		case !permanent && v.deleted:
			writeError(w, http.StatusNotFound, schema.CodeVersionSoftDeleted,
				fmt.Sprintf("Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", name, n))
		default:
			v.deleted = true
			if permanent {
				s.versions = slices.Delete(s.versions, i, i+1)
			}
			writeJSON(w, http.StatusOK, n)
		}
		return
	}
	writeError(w, http.StatusNotFound, schema.CodeVersionNotFound, fmt.Sprintf("Version %d not found.", n))
}

func (h *Handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	h.mu.Lock()
	defer h.mu.Unlock()
	i := id - h.cfg.firstID
	if err != nil || i < 0 || i >= len(h.schemas) {
		writeError(w, http.StatusNotFound, schema.CodeSchemaNotFound, "Schema "+r.PathValue("id")+" not found")
		return
	}
	st := h.schemas[i]
	out := map[string]any{"schema": st.text}
	if st.typ != schema.TypeAvro {
		out["schemaType"] = st.typ
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) testCompatibility(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	if _, err := canonical(b); err != nil {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidSchema, "Invalid schema: "+err.Error())
		return
	}
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.liveSubject(w, name)
	if !ok {
		return
	}
	level := h.level(s)
	var only *version
	if raw := r.PathValue("version"); raw != "" {
		if only, ok = h.findVersion(w, s, raw); !ok {
			return
		}
		// Against one version, the transitive forms mean the plain ones.
		level = schema.Compatibility(strings.TrimSuffix(string(level), "_TRANSITIVE"))
	}
	reasons := h.incompatibilities(s, level, b, only)
	out := map[string]any{"is_compatible": len(reasons) == 0}
	if r.URL.Query().Get("verbose") == "true" {
		if reasons == nil {
			reasons = []string{}
		}
		out["messages"] = reasons
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	if name == "" {
		writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(h.global)})
		return
	}
	if s, ok := h.subjects[name]; ok && s.compat != "" {
		writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(s.compat)})
		return
	}
	if r.URL.Query().Get("defaultToGlobal") == "true" {
		writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(h.global)})
		return
	}
	writeError(w, http.StatusNotFound, schema.CodeSubjectCompatNotFound,
		fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", name))
}

func (h *Handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !schema.Compatibility(body.Compatibility).Valid() {
		writeError(w, http.StatusUnprocessableEntity, schema.CodeInvalidCompatibility,
			"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
		return
	}
	level := schema.Compatibility(body.Compatibility)
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	if name == "" {
		h.global = level
	} else {
		s, ok := h.subjects[name]
		if !ok {
			s = &subject{}
			h.subjects[name] = s
		}
		s.compat = level
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibility": string(level)})
}

func (h *Handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("subject")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.subjects[name]
	if !ok || s.compat == "" {
		writeError(w, http.StatusNotFound, schema.CodeSubjectCompatNotFound,
			fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", name))
		return
	}
	prev := s.compat
	s.compat = ""
	writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(prev)})
}
