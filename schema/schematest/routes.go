package schematest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulwarkgo/bulwark/schema"
)

// Handler is the in-memory registry as an http.Handler, for tests that
// wrap it (to inject faults, delays or count requests their own way).
type Handler struct {
	cfg   config
	mux   *http.ServeMux
	store *store
}

// NewHandler returns an empty in-memory registry.
func NewHandler(opts ...Option) *Handler {
	cfg := config{compat: schema.CompatBackward, firstID: 1}
	for _, o := range opts {
		o(&cfg)
	}
	h := &Handler{cfg: cfg, store: newStore(cfg.firstID, cfg.compat)}
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

// errorCodes maps each store failure to the registry's HTTP status and
// error code.
var errorCodes = []struct {
	kind         error
	status, code int
}{
	{errSubjectNotFound, http.StatusNotFound, schema.CodeSubjectNotFound},
	{errVersionNotFound, http.StatusNotFound, schema.CodeVersionNotFound},
	{errSchemaNotFound, http.StatusNotFound, schema.CodeSchemaNotFound},
	{errSubjectSoftDeleted, http.StatusNotFound, schema.CodeSubjectSoftDeleted},
	{errSubjectNotSoftDeleted, http.StatusNotFound, schema.CodeSubjectNotSoftDeleted},
	{errVersionSoftDeleted, http.StatusNotFound, schema.CodeVersionSoftDeleted},
	{errVersionNotSoftDeleted, http.StatusNotFound, schema.CodeVersionNotSoftDeleted},
	{errSubjectCompatNotFound, http.StatusNotFound, schema.CodeSubjectCompatNotFound},
	{errIncompatibleSchema, http.StatusConflict, schema.CodeIncompatibleSchema},
	{errInvalidSchema, http.StatusUnprocessableEntity, schema.CodeInvalidSchema},
	{errInvalidVersion, http.StatusUnprocessableEntity, schema.CodeInvalidVersion},
	{errInvalidCompatibility, http.StatusUnprocessableEntity, schema.CodeInvalidCompatibility},
}

// writeStoreError answers err as the registry would: its status, its
// error code and its message.
func writeStoreError(w http.ResponseWriter, err error) {
	msg := err.Error()
	if ie, ok := errors.AsType[*incompatibleError](err); ok {
		msg = incompatibleMessage(ie)
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.kind) {
			writeError(w, c.status, c.code, msg)
			return
		}
	}
	writeError(w, http.StatusInternalServerError, schema.CodeStoreError, msg)
}

// incompatibleMessage spells the reasons as the registry does; the client
// reads them back out of this text.
func incompatibleMessage(e *incompatibleError) string {
	details := make([]string, len(e.reasons))
	for i, reason := range e.reasons {
		details[i] = fmt.Sprintf("{errorType:'INCOMPATIBLE', description:'%s'}", reason)
	}
	return fmt.Sprintf(
		"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s, {compatibility: '%s'}]",
		e.subject, strings.Join(details, ", "), e.level)
}

type schemaBody struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
}

func readSchema(w http.ResponseWriter, r *http.Request) (schemaBody, bool) {
	var b schemaBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeStoreError(w, failure(errInvalidSchema, "Invalid schema: request body is not JSON: %s", err.Error()))
		return b, false
	}
	if b.SchemaType == "" {
		b.SchemaType = schema.TypeAvro
	}
	return b, true
}

// schemaJSON is a schema's body in answers: schemaType only when not Avro.
func schemaJSON(out map[string]any, typ, text string) map[string]any {
	out["schema"] = text
	if typ != schema.TypeAvro {
		out["schemaType"] = typ
	}
	return out
}

func versionJSON(v versionInfo) map[string]any {
	return schemaJSON(map[string]any{"subject": v.subject, "id": v.id, "version": v.number}, v.typ, v.text)
}

func (h *Handler) listSubjects(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.store.listSubjects())
}

func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request) {
	out, err := h.store.versions(r.PathValue("subject"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	id, err := h.store.register(r.PathValue("subject"), b.SchemaType, b.Schema)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	v, err := h.store.lookup(r.PathValue("subject"), b.SchemaType, b.Schema)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, versionJSON(v))
}

func (h *Handler) getVersion(w http.ResponseWriter, r *http.Request) {
	v, err := h.store.version(r.PathValue("subject"), r.PathValue("version"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, versionJSON(v))
}

func permanent(r *http.Request) bool { return r.URL.Query().Get("permanent") == "true" }

func (h *Handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	out, err := h.store.deleteSubject(r.PathValue("subject"), permanent(r))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	n, err := h.store.deleteVersion(r.PathValue("subject"), r.PathValue("version"), permanent(r))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (h *Handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.Atoi(raw)
	if err != nil {
		writeStoreError(w, schemaNotFound(raw))
		return
	}
	ss, err := h.store.schemaByID(id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, schemaJSON(map[string]any{}, ss.typ, ss.text))
}

func (h *Handler) testCompatibility(w http.ResponseWriter, r *http.Request) {
	b, ok := readSchema(w, r)
	if !ok {
		return
	}
	reasons, err := h.store.testCompatibility(r.PathValue("subject"), b.SchemaType, b.Schema, r.PathValue("version"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
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
	level, err := h.store.compatibility(r.PathValue("subject"), r.URL.Query().Get("defaultToGlobal") == "true")
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(level)})
}

func (h *Handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeStoreError(w, invalidCompatibility())
		return
	}
	level := schema.Compatibility(body.Compatibility)
	if err := h.store.setCompatibility(r.PathValue("subject"), level); err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibility": string(level)})
}

func (h *Handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	prev, err := h.store.deleteCompatibility(r.PathValue("subject"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": string(prev)})
}
