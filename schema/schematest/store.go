package schematest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwarkgo/bulwark/schema"
)

// The store's failures, one per registry error; routes.go maps each to its
// HTTP status and Confluent error code.
var (
	errSubjectNotFound       = errors.New("subject not found")
	errVersionNotFound       = errors.New("version not found")
	errSchemaNotFound        = errors.New("schema not found")
	errSubjectSoftDeleted    = errors.New("subject soft-deleted")
	errSubjectNotSoftDeleted = errors.New("subject not soft-deleted")
	errVersionSoftDeleted    = errors.New("version soft-deleted")
	errVersionNotSoftDeleted = errors.New("version not soft-deleted")
	errSubjectCompatNotFound = errors.New("subject has no compatibility level")
	errIncompatibleSchema    = errors.New("incompatible schema")
	errInvalidSchema         = errors.New("invalid schema")
	errInvalidVersion        = errors.New("invalid version")
	errInvalidCompatibility  = errors.New("invalid compatibility level")
)

// storeError is a store failure: kind is one of the errors above, message
// the registry's text for it.
type storeError struct {
	kind    error
	message string
}

func (e *storeError) Error() string { return e.message }
func (e *storeError) Unwrap() error { return e.kind }

func failure(kind error, format string, args ...any) error {
	return &storeError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// incompatibleError is errIncompatibleSchema with the reasons, which the
// routes spell out the way the registry does.
type incompatibleError struct {
	subject string
	level   schema.Compatibility
	reasons []string
}

func (e *incompatibleError) Error() string {
	return fmt.Sprintf("schema incompatible with subject %q at %s: %s", e.subject, e.level, strings.Join(e.reasons, "; "))
}
func (e *incompatibleError) Unwrap() error { return errIncompatibleSchema }

func subjectNotFound(name string) error {
	return failure(errSubjectNotFound, "Subject '%s' not found.", name)
}

func schemaNotFound(id string) error { return failure(errSchemaNotFound, "Schema %s not found", id) }

func invalidCompatibility() error {
	return failure(errInvalidCompatibility,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

// store is the registry's state: schemas by ID, subjects with their
// versions, and compatibility levels. Every method takes the lock and
// returns a *storeError or *incompatibleError on failure.
type store struct {
	firstID int

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

// versionInfo is one version of a subject as the store answers it.
type versionInfo struct {
	subject    string
	id, number int
	typ, text  string
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

func newStore(firstID int, global schema.Compatibility) *store {
	return &store{firstID: firstID, subjects: map[string]*subject{}, global: global}
}

// canonical validates an Avro schema and returns its canonical text; other
// types are compared as given.
func canonical(typ, text string) (string, error) {
	if typ != schema.TypeAvro {
		return text, nil
	}
	canon, err := schema.CanonicalForm(text)
	if err != nil {
		return "", failure(errInvalidSchema, "Invalid schema: %s", err.Error())
	}
	return canon, nil
}

func (st *store) listSubjects() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []string{}
	for name, s := range st.subjects {
		if len(s.live()) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// liveSubject returns a subject with live versions. Callers hold mu.
func (st *store) liveSubject(name string) (*subject, error) {
	s, ok := st.subjects[name]
	if !ok || len(s.live()) == 0 {
		return nil, subjectNotFound(name)
	}
	return s, nil
}

func (st *store) versions(name string) ([]int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, err := st.liveSubject(name)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for _, v := range s.live() {
		out = append(out, v.number)
	}
	return out, nil
}

func (st *store) level(s *subject) schema.Compatibility {
	if s != nil && s.compat != "" {
		return s.compat
	}
	return st.global
}

func (st *store) stored(id int) storedSchema { return st.schemas[id-st.firstID] }

func (st *store) info(name string, v *version) versionInfo {
	ss := st.stored(v.id)
	return versionInfo{subject: name, id: v.id, number: v.number, typ: ss.typ, text: ss.text}
}

// incompatibilities checks text against the live versions of s per level
// (only against one version when only is non-nil). Callers hold mu.
func (st *store) incompatibilities(s *subject, level schema.Compatibility, typ, text string, only *version) []string {
	if typ != schema.TypeAvro || s == nil {
		return nil
	}
	var previous []string
	for _, v := range s.live() {
		if only != nil && v != only {
			continue
		}
		if ss := st.stored(v.id); ss.typ == schema.TypeAvro {
			previous = append(previous, ss.text)
		}
	}
	reasons, err := schema.CheckCompatibility(level, text, previous...)
	if err != nil {
		return []string{err.Error()}
	}
	return reasons
}

// register adds text to the subject (or finds it there already) and
// returns its ID.
func (st *store) register(name, typ, text string) (int, error) {
	canon, err := canonical(typ, text)
	if err != nil {
		return 0, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.subjects[name]
	if s != nil {
		for _, v := range s.live() {
			if ss := st.stored(v.id); ss.typ == typ && ss.canon == canon {
				return v.id, nil
			}
		}
	}
	if reasons := st.incompatibilities(s, st.level(s), typ, text, nil); len(reasons) > 0 {
		return 0, &incompatibleError{subject: name, level: st.level(s), reasons: reasons}
	}
	id := -1
	for i, ss := range st.schemas {
		if ss.typ == typ && ss.canon == canon {
			id = i + st.firstID
		}
	}
	if id < 0 {
		st.schemas = append(st.schemas, storedSchema{typ: typ, text: text, canon: canon})
		id = len(st.schemas) - 1 + st.firstID
	}
	if s == nil {
		s = &subject{}
		st.subjects[name] = s
	}
	next := 1
	if n := len(s.versions); n > 0 {
		next = s.versions[n-1].number + 1
	}
	s.versions = append(s.versions, &version{number: next, id: id})
	return id, nil
}

// lookup finds the live version of the subject holding text.
func (st *store) lookup(name, typ, text string) (versionInfo, error) {
	canon, err := canonical(typ, text)
	if err != nil {
		return versionInfo{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s, err := st.liveSubject(name)
	if err != nil {
		return versionInfo{}, err
	}
	for _, v := range s.live() {
		if ss := st.stored(v.id); ss.typ == typ && ss.canon == canon {
			return st.info(name, v), nil
		}
	}
	return versionInfo{}, failure(errSchemaNotFound, "Schema not found")
}

// findVersion resolves "latest", -1 or a number among the live versions
// of s. Callers hold mu.
func findVersion(s *subject, raw string) (*version, error) {
	live := s.live()
	if raw == "latest" || raw == "-1" {
		return live[len(live)-1], nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return nil, failure(errInvalidVersion,
			"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", raw)
	}
	for _, v := range live {
		if v.number == n {
			return v, nil
		}
	}
	return nil, failure(errVersionNotFound, "Version %d not found.", n)
}

// version returns the subject's version raw ("latest", -1 or a number).
func (st *store) version(name, raw string) (versionInfo, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, err := st.liveSubject(name)
	if err != nil {
		return versionInfo{}, err
	}
	v, err := findVersion(s, raw)
	if err != nil {
		return versionInfo{}, err
	}
	return st.info(name, v), nil
}

// deleteSubject soft-deletes the subject's versions, or forgets a
// soft-deleted subject when permanent, and returns the version numbers.
func (st *store) deleteSubject(name string, permanent bool) ([]int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subjects[name]
	if !ok {
		return nil, subjectNotFound(name)
	}
	live := s.live()
	switch {
	case permanent && len(live) > 0:
		return nil, failure(errSubjectNotSoftDeleted,
			"Subject '%s' was not deleted first before being permanently deleted", name)
	case !permanent && len(live) == 0:
		return nil, failure(errSubjectSoftDeleted,
			"Subject '%s' was soft deleted.Set permanent=true to delete permanently", name)
	}
	out := []int{}
	for _, v := range s.versions {
		out = append(out, v.number)
		v.deleted = true
	}
	if permanent {
		delete(st.subjects, name)
	}
	return out, nil
}

// deleteVersion soft-deletes version raw of the subject, or forgets a
// soft-deleted one when permanent, and returns its number.
func (st *store) deleteVersion(name, raw string, permanent bool) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subjects[name]
	if !ok {
		return 0, subjectNotFound(name)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return 0, failure(errInvalidVersion, "The specified version '%s' is not a valid version id.", raw)
	}
	for i, v := range s.versions {
		if v.number != n {
			continue
		}
		switch {
		case permanent && !v.deleted:
			return 0, failure(errVersionNotSoftDeleted,
				"Subject '%s' Version %d was not deleted first before being permanently deleted", name, n)
		case !permanent && v.deleted:
			return 0, failure(errVersionSoftDeleted,
				"Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", name, n)
		}
		v.deleted = true
		if permanent {
			s.versions = slices.Delete(s.versions, i, i+1)
		}
		return n, nil
	}
	return 0, failure(errVersionNotFound, "Version %d not found.", n)
}

// schemaByID returns the schema registered under id.
func (st *store) schemaByID(id int) (storedSchema, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := id - st.firstID
	if i < 0 || i >= len(st.schemas) {
		return storedSchema{}, schemaNotFound(strconv.Itoa(id))
	}
	return st.schemas[i], nil
}

// testCompatibility returns why text could not be registered in the
// subject, checked against version raw only when raw is not empty.
func (st *store) testCompatibility(name, typ, text, raw string) ([]string, error) {
	if _, err := canonical(typ, text); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s, err := st.liveSubject(name)
	if err != nil {
		return nil, err
	}
	level := st.level(s)
	var only *version
	if raw != "" {
		if only, err = findVersion(s, raw); err != nil {
			return nil, err
		}
		// Against one version, the transitive forms mean the plain ones.
		level = schema.Compatibility(strings.TrimSuffix(string(level), "_TRANSITIVE"))
	}
	return st.incompatibilities(s, level, typ, text, only), nil
}

// compatibility returns the global level (name empty) or the subject's
// own, falling back to the global one when defaultToGlobal.
func (st *store) compatibility(name string, defaultToGlobal bool) (schema.Compatibility, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if name == "" {
		return st.global, nil
	}
	if s, ok := st.subjects[name]; ok && s.compat != "" {
		return s.compat, nil
	}
	if defaultToGlobal {
		return st.global, nil
	}
	return "", subjectCompatNotFound(name)
}

func subjectCompatNotFound(name string) error {
	return failure(errSubjectCompatNotFound, "Subject '%s' does not have subject-level compatibility configured", name)
}

// setCompatibility sets the global level (name empty) or the subject's.
func (st *store) setCompatibility(name string, level schema.Compatibility) error {
	if !level.Valid() {
		return invalidCompatibility()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if name == "" {
		st.global = level
		return nil
	}
	s, ok := st.subjects[name]
	if !ok {
		s = &subject{}
		st.subjects[name] = s
	}
	s.compat = level
	return nil
}

// deleteCompatibility drops the subject's own level and returns it.
func (st *store) deleteCompatibility(name string) (schema.Compatibility, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subjects[name]
	if !ok || s.compat == "" {
		return "", subjectCompatNotFound(name)
	}
	prev := s.compat
	s.compat = ""
	return prev, nil
}
