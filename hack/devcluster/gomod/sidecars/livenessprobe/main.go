// Command livenessprobe answers HTTP /healthz by calling the CSI driver's Probe RPC, so a
// container livenessProbe can check the driver through its CSI socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
)

var version = "dev"

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "path of the driver's CSI socket")
	healthPort := flag.Int("health-port", 9808, "TCP port of /healthz (ignored when --http-endpoint is set)")
	httpEndpoint := flag.String("http-endpoint", "", "address of /healthz, such as :9808")
	probeTimeout := flag.Duration("probe-timeout", time.Second, "timeout of each Probe call")
	showVersion := flag.Bool("version", false, "print the version and exit")
	klog.InitFlags(nil)
	flag.Parse()
	if *showVersion {
		fmt.Println(os.Args[0], version)
		return
	}
	addr := strings.TrimPrefix(*csiAddress, "unix://")
	conn, err := grpc.NewClient("unix:"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		klog.Fatalf("dial %s: %v", addr, err)
	}
	identity := csi.NewIdentityClient(conn)

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *probeTimeout)
		defer cancel()
		resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			klog.Errorf("probe: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if ready := resp.GetReady(); ready != nil && !ready.GetValue() {
			http.Error(w, "driver not ready", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	listen := *httpEndpoint
	if listen == "" {
		listen = net.JoinHostPort("", fmt.Sprint(*healthPort))
	}
	klog.Infof("serving /healthz on %s for %s", listen, addr)
	klog.Fatal(http.ListenAndServe(listen, mux))
}
