package consumer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// call is one handler call seen by the retry-topic test.
type call struct {
	value   string
	topic   string
	attempt int
	at      time.Time
	ok      bool
}

func TestRetryTopicsDoNotBlockThePartition(t *testing.T) {
	delays := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond}
	cl := newCluster(t, map[string]int32{"pay": 1, "pay.retry.1": 1, "pay.retry.2": 1, "pay.dlt": 1})
	const n = 200
	produce(t, cl, "pay", n, func(i int) string { return strconv.Itoa(i) })
	index := func(m *bulwark.Message) int { i, _ := strconv.Atoi(string(m.Value[1:])); return i }
	flaky := func(i int) bool { return i%20 == 3 }  // fails once
	broken := func(i int) bool { return i%50 == 7 } // never succeeds
	badData := func(i int) bool { return i == 150 } // permanent

	var (
		mu    sync.Mutex
		calls []call
	)
	h := bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
		i := index(m)
		var err error
		switch {
		case badData(i):
			err = bulwark.Permanentf("bad data %d", i)
		case broken(i):
			err = errors.New("downstream rejects it")
		case flaky(i) && m.Attempt == 1:
			err = errors.New("downstream hiccup")
		}
		mu.Lock()
		calls = append(calls, call{value: string(m.Value), topic: m.Topic, attempt: m.Attempt, at: time.Now(), ok: err == nil})
		mu.Unlock()
		return err
	})
	c, err := New(cl.Brokers(), "pay-group", []string{"pay"}, h,
		fastOpts(cl, WithRetry(1, time.Millisecond, time.Millisecond), WithRetryTopics(delays...))...)
	if err != nil {
		t.Fatal(err)
	}
	var pausedRetry sync.Map
	c.cfg.onFetchPause = func(topic string, _ int32, paused bool) {
		if paused {
			pausedRetry.Store(topic, true)
		}
	}
	stop := runConsumer(t, c)
	finished := func(topic string) bool {
		ends, err := cl.EndOffsets(context.Background(), topic, true)
		return err == nil && sum(committed(t, cl, "pay-group", topic)) == sum(ends)
	}
	waitFor(t, 60*time.Second, "every topic committed to its end", func() bool {
		dlt, _ := cl.EndOffsets(context.Background(), "pay.dlt", true)
		return sum(dlt) == 5 && finished("pay") && finished("pay.retry.1") && finished("pay.retry.2")
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	byValue := map[string][]call{}
	pos := map[string][]int{}
	for k, c := range calls {
		byValue[c.value] = append(byValue[c.value], c)
		pos[c.value] = append(pos[c.value], k)
		if c.topic != "pay" {
			t.Fatalf("handler saw topic %q, want the source topic", c.topic)
		}
	}
	for i := range n {
		v := "v" + strconv.Itoa(i)
		cs := byValue[v]
		switch {
		case badData(i):
			if len(cs) != 1 {
				t.Fatalf("%s (permanent) handled %d times, want 1: straight to the dead-letter topic", v, len(cs))
			}
		case broken(i):
			if len(cs) != 3 || cs[0].attempt != 1 || cs[1].attempt != 2 || cs[2].attempt != 3 {
				t.Fatalf("%s: calls %+v, want attempts 1, 2, 3 (source, retry 1, retry 2)", v, cs)
			}
			for k, d := range delays {
				if gap := cs[k+1].at.Sub(cs[k].at); gap < d-10*time.Millisecond {
					t.Fatalf("%s: try %d came %v after try %d, before its delay %v", v, k+2, gap, k+1, d)
				}
			}
		case flaky(i):
			if len(cs) != 2 || cs[0].ok || !cs[1].ok || cs[1].attempt != 2 {
				t.Fatalf("%s: calls %+v, want a failure then a success on attempt 2", v, cs)
			}
			// Not blocking: the next record was handled before the retry.
			next := "v" + strconv.Itoa(i+1)
			if pos[next][0] > pos[v][1] {
				t.Fatalf("%s waited for the retry of %s", next, v)
			}
		default:
			if len(cs) != 1 || !cs[0].ok {
				t.Fatalf("%s: calls %+v, want one success", v, cs)
			}
		}
	}
	if _, ok := pausedRetry.Load("pay.retry.1"); !ok {
		t.Error("the retry topic's partition never paused while its records were not due")
	}

	dlt, err := cl.ReadTopic(context.Background(), "pay.dlt")
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range dlt {
		i := index(dl)
		if !broken(i) && !badData(i) {
			t.Fatalf("dead letter %s should have been handled", dl.Value)
		}
		src, _ := dl.Header(bulwark.HeaderDLTTopic)
		off, _ := dl.Header(bulwark.HeaderDLTOffset)
		att, _ := dl.Header(bulwark.HeaderDLTAttempts)
		if string(src) != "pay" || string(off) != strconv.Itoa(i) {
			t.Fatalf("dead letter %s names %s/%s, want its source pay/%d", dl.Value, src, off, i)
		}
		if want := map[bool]string{true: "3", false: "1"}[broken(i)]; string(att) != want {
			t.Fatalf("dead letter %s: attempts %s, want %s", dl.Value, att, want)
		}
		if _, ok := dl.Header(HeaderRetryNotBefore); ok {
			t.Fatalf("dead letter %s still carries retry headers", dl.Value)
		}
	}
}

func TestRetryTopicsRejectBadConfig(t *testing.T) {
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	bh := BatchHandlerFunc(func(context.Context, []*bulwark.Message) error { return nil })
	brokers := []string{"127.0.0.1:9"}
	for name, build := range map[string]func() error{
		"no delays": func() error { _, err := New(brokers, "g", []string{"t"}, h, WithRetryTopics()); return err },
		"negative":  func() error { _, err := New(brokers, "g", []string{"t"}, h, WithRetryTopics(-time.Second)); return err },
		"batch": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, bh, WithRetryTopics(time.Second))
			return err
		},
	} {
		if err := build(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if got := RetryTopic("orders", 2); got != "orders.retry.2" {
		t.Errorf("RetryTopic = %q", got)
	}
}

// A record that fails permanently when handled from a retry topic goes to
// its source topic's dead-letter topic, not to "<retry topic>.dlt".
func TestRetryTopicPermanentFailureGoesToSourceDeadLetterTopic(t *testing.T) {
	cl := newCluster(t, map[string]int32{"pay": 1, "pay.retry.1": 1, "pay.dlt": 1})
	produce(t, cl, "pay", 3, nil)
	h := bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
		if string(m.Value) != "v1" {
			return nil
		}
		if m.Attempt == 1 {
			return errors.New("downstream hiccup") // to pay.retry.1
		}
		return bulwark.Permanentf("rejected on retry")
	})
	c, err := New(cl.Brokers(), "g-retryperm", []string{"pay"}, h,
		fastOpts(cl, WithRetry(1, time.Millisecond, time.Millisecond), WithRetryTopics(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "the dead letter", func() bool {
		ends, err := cl.EndOffsets(context.Background(), "pay.dlt", true)
		return err == nil && ends[0] == 1 && committed(t, cl, "g-retryperm", "pay.retry.1")[0] == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertDeadLetters(t, cl, "pay.dlt", "v1")
	dls, err := cl.ReadTopic(context.Background(), "pay.dlt")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := dls[0].Header(bulwark.HeaderDLTGroup); string(g) != "g-retryperm" {
		t.Fatalf("dead letter from the retry topic names group %q, want g-retryperm", g)
	}
}
