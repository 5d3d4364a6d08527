package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Plaintext the apps exchange. Each one is distinctive enough that finding
// it in a capture means the capture holds application plaintext.
const (
	Customer   = "Ada Lovelace"
	CardNumber = "4111-1111-1111-1111"
	Item       = "hopseal-sticker-pack"
	OrderID    = "ORD-2291-HOPSEAL"
	AuthCode   = "AUTH-93F1C"
	Authorized = "PAYMENT-AUTHORIZED"
)

// Markers are the plaintext strings that must never appear between proxies.
func Markers() [][]byte {
	var m [][]byte
	for _, s := range []string{Customer, CardNumber, Item, OrderID, AuthCode, Authorized} {
		m = append(m, []byte(s))
	}
	return m
}

const maxBody = 64 << 10

type orderRequest struct {
	Customer string `json:"customer"`
	Card     string `json:"card"`
	Item     string `json:"item"`
}

type chargeRequest struct {
	OrderID     string `json:"order_id"`
	Cardholder  string `json:"cardholder"`
	Card        string `json:"card"`
	Description string `json:"description"`
	AmountCents int    `json:"amount_cents"`
}

type chargeResponse struct {
	OrderID  string `json:"order_id"`
	Status   string `json:"status"`
	AuthCode string `json:"auth_code"`
}

// app is one demo service: a plain HTTP server on loopback that only its
// own proxy (or the user, for the frontend) talks to.
type app struct {
	name   string
	ln     net.Listener
	served atomic.Int64 // requests answered, to show refused callers got nothing
}

func newApp(name, listen string) (*app, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("demo: %s app listen %s: %w", name, listen, err)
	}
	return &app{name: name, ln: ln}, nil
}

func (a *app) addr() string { return a.ln.Addr().String() }

// serve runs h until ctx ends.
func (a *app) serve(ctx context.Context, h http.Handler) error {
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.served.Add(1)
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
		return fmt.Errorf("demo: %s app: %w", a.name, err)
	}
	return nil
}

// httpClient opens one connection per request, so every call is one proxied
// flow that ends (and is reported) when the response is done.
func httpClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
}

func paymentsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /charge", func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil || req.Card == "" {
			http.Error(w, "want a JSON charge with a card", http.StatusBadRequest)
			return
		}
		writeJSON(w, chargeResponse{OrderID: req.OrderID, Status: Authorized, AuthCode: AuthCode})
	})
	return mux
}

// ordersHandler places an order and charges it through payments, reached at
// paymentsURL (orders' outbound proxy).
func ordersHandler(paymentsURL string) http.Handler {
	client := httpClient()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req orderRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
			http.Error(w, "want a JSON order", http.StatusBadRequest)
			return
		}
		charge := chargeRequest{OrderID: OrderID, Cardholder: req.Customer, Card: req.Card, Description: req.Item, AmountCents: 1299}
		var resp chargeResponse
		if err := postJSON(r.Context(), client, paymentsURL+"/charge", charge, &resp); err != nil {
			http.Error(w, "payments: "+err.Error(), http.StatusBadGateway)
			return
		}
		writeJSON(w, resp)
	})
	return mux
}

// frontendHandler serves /checkout, placing an order through orders, reached
// at ordersURL (frontend's outbound proxy).
func frontendHandler(ordersURL string) http.Handler {
	client := httpClient()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		var resp chargeResponse
		order := orderRequest{Customer: Customer, Card: CardNumber, Item: Item}
		if err := postJSON(r.Context(), client, ordersURL+"/orders", order, &resp); err != nil {
			http.Error(w, "orders: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s for %s: %s (%s)\n", resp.OrderID, Customer, resp.Status, resp.AuthCode)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hopseal demo frontend: GET /checkout places an order (frontend → orders → payments)")
	})
	return mux
}

func postJSON(ctx context.Context, c *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
