package consumer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// What a Prometheus server scrapes from a consumer whose meter provider
// exports to it: the semantic-convention names with their unit suffixes,
// the messaging attributes as labels, and the duration buckets, with a
// 2 ms handler call counted in a bucket at or below 5 ms.
func TestPrometheusScrape(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 1, nil)
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	handler := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	c, err := New(cl.Brokers(), "g-prom", []string{"in"}, handler, fastOpts(cl, WithMeterProvider(mp))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "committed", func() bool { return committed(t, cl, "g-prom", "in")[0] == 1 })
	// Scraped while running: the gauges are reported while the consumer
	// runs.
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()

	srv := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s, %v", resp.Status, err)
	}
	text := string(body)
	defer func() {
		if t.Failed() {
			t.Logf("scraped:\n%s", text)
		}
	}()

	for _, re := range []string{
		`(?m)^# TYPE messaging_client_consumed_messages_total counter$`,
		`(?m)^messaging_client_consumed_messages_total\{[^}]*messaging_consumer_group_name="g-prom"[^}]*messaging_destination_name="in"[^}]*messaging_operation_name="poll",messaging_operation_type="receive"[^}]*messaging_system="kafka"[^}]*server_address="127\.0\.0\.1"[^}]*\} 1$`,
		`(?m)^# TYPE messaging_process_duration_seconds histogram$`,
		`(?m)^# HELP messaging_process_duration_seconds Duration of one handler call\.$`,
		`(?m)^# TYPE messaging_client_operation_duration_seconds histogram$`,
		`(?m)^messaging_client_operation_duration_seconds_count\{[^}]*messaging_operation_name="commit",messaging_operation_type="settle"[^}]*\} [1-9]`,
		`(?m)^# TYPE bulwark_consumer_lag gauge$`,
		`(?m)^bulwark_consumer_lag\{[^}]*messaging_destination_partition_id="0"[^}]*\} [0-9]+$`,
		`(?m)^# TYPE bulwark_consumer_in_flight gauge$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("no line matching %s", re)
		}
	}

	// The process-duration histogram of the one record.
	var les []string
	var cumulative []uint64
	var sum float64
	var count uint64
	bucket := regexp.MustCompile(`le="([^"]+)"`)
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.HasPrefix(name, "messaging_process_duration_seconds") {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		labels, value := rest[:i], rest[i+1:]
		if !strings.Contains(labels, `messaging_destination_name="in"`) {
			t.Fatalf("data point without the topic: %s", line)
		}
		switch name {
		case "messaging_process_duration_seconds_bucket":
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			les = append(les, bucket.FindStringSubmatch(labels)[1])
			cumulative = append(cumulative, n)
		case "messaging_process_duration_seconds_sum":
			if sum, err = strconv.ParseFloat(value, 64); err != nil {
				t.Fatal(err)
			}
		case "messaging_process_duration_seconds_count":
			if count, err = strconv.ParseUint(value, 10, 64); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want []string
	for _, b := range telemetry.DurationBuckets {
		want = append(want, strconv.FormatFloat(b, 'g', -1, 64))
	}
	want = append(want, "+Inf")
	if !slices.Equal(les, want) {
		t.Fatalf("buckets le=%v, want %v", les, want)
	}
	if count != 1 || sum < 0.002 {
		t.Fatalf("count %d, sum %v s: want the one handler call of at least 2 ms", count, sum)
	}
	// The bucket the call is counted in: the first whose count is 1.
	first := slices.IndexFunc(cumulative, func(n uint64) bool { return n == 1 })
	if first < 0 || first == len(telemetry.DurationBuckets) {
		t.Fatalf("cumulative counts %v: the call is in no bounded bucket", cumulative)
	}
	upper := telemetry.DurationBuckets[first]
	if (first > 0 && telemetry.DurationBuckets[first-1] >= sum) || upper < sum {
		t.Fatalf("%v s counted in the bucket le=%v", sum, upper)
	}
	if sum < 0.005 && upper > 0.005 {
		t.Fatalf("a %v s call counted in the bucket le=%v, want one at or below 5 ms", sum, upper)
	}
	t.Logf("a 2 ms handler call (%.4f s measured) is in the bucket le=%v", sum, upper)
}
