// Command csi-node-driver-registrar registers a CSI driver with the kubelet through the kubelet's
// plugin registration mechanism: it asks the driver its name over CSI, then serves the
// pluginregistration.Registration API on <plugin-registration-path>/<driver>-reg.sock, where the
// kubelet's plugin watcher finds it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var version = "dev"

type registrar struct {
	registerapi.UnimplementedRegistrationServer
	driver, endpoint string
}

func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.driver,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		klog.Errorf("kubelet did not register %s: %s", r.driver, s.Error)
		os.Exit(1)
	}
	klog.Infof("kubelet registered driver %s", r.driver)
	return &registerapi.RegistrationStatusResponse{}, nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	addr = strings.TrimPrefix(addr, "unix://")
	return grpc.NewClient("unix:"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// driverName asks the driver for its name, retrying until it answers or ctx ends.
func driverName(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) (string, error) {
	client := csi.NewIdentityClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		info, err := client.GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return info.GetName(), nil
		}
		klog.Warningf("GetPluginInfo: %v (retrying)", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "path of the driver's CSI socket inside this container")
	kubeletPath := flag.String("kubelet-registration-path", "", "path of the driver's CSI socket on the node, as the kubelet sees it")
	regDir := flag.String("plugin-registration-path", "/registration", "directory the kubelet watches for registration sockets")
	timeout := flag.Duration("timeout", time.Second, "timeout of each CSI call")
	httpEndpoint := flag.String("http-endpoint", "", "address of an HTTP server answering /healthz (empty: none)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	klog.InitFlags(nil)
	flag.Parse()
	if *showVersion {
		fmt.Println(os.Args[0], version)
		return
	}
	if *kubeletPath == "" {
		klog.Fatal("--kubelet-registration-path is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	conn, err := dial(*csiAddress)
	if err != nil {
		klog.Fatalf("dial %s: %v", *csiAddress, err)
	}
	name, err := driverName(ctx, conn, *timeout)
	if err != nil {
		klog.Fatalf("driver name: %v", err)
	}
	_ = conn.Close()

	sock := filepath.Join(*regDir, name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		klog.Fatalf("remove stale %s: %v", sock, err)
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		klog.Fatalf("listen %s: %v", sock, err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registrar{driver: name, endpoint: *kubeletPath})
	go func() {
		if err := srv.Serve(lis); err != nil {
			klog.Fatalf("serve: %v", err)
		}
	}()
	klog.Infof("registration socket %s for driver %s (endpoint %s)", sock, name, *kubeletPath)

	if *httpEndpoint != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if _, err := os.Stat(sock); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
		go func() { klog.Fatal(http.ListenAndServe(*httpEndpoint, mux)) }()
	}
	<-ctx.Done()
	srv.Stop()
	_ = os.Remove(sock)
}
