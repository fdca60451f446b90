// Command ssc-testprovider is a provider for the driver's tests and benchmarks, built on the upstream
// Secrets Store CSI driver's own generated provider API (sigs.k8s.io/secrets-store-csi-driver v1.6.0,
// provider/v1alpha1): a driver that works with it speaks the wire format upstream providers speak.
//
// It serves files from --root-dir. SecretProviderClass parameters (in the Mount attributes):
//
//	objects   JSON object: returned file path -> source file name in --root-dir (returned as given)
//	mode      optional decimal file mode overriding the permission the driver sends
//	delayMs   optional delay before answering
//	writeSelf "true": write the files into target_path itself and return none (a legacy provider)
//	symlinks  with writeSelf: JSON object link path -> link target, created in target_path
//	echoIdentity "true": add a file "identity" holding the namespace, service account and the
//	          nodePublishSecretRef data the call was made with (to prove fetches are not shared
//	          across identities)
//
// Each Mount call appends one line to --calls-file when set (pod name and namespace), so tests and
// benchmarks can count provider calls independently of the driver.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

type server struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	root      string
	callsFile string
	mu        sync.Mutex
}

func (s *server) Version(ctx context.Context, req *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: "ssc-testprovider", RuntimeVersion: "0.1.0"}, nil
}

func (s *server) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(req.GetAttributes()), &attrs); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "attributes: %v", err)
	}
	var secrets map[string]string
	if err := json.Unmarshal([]byte(req.GetSecrets()), &secrets); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "secrets: %v", err)
	}
	var permStr string
	if err := json.Unmarshal([]byte(req.GetPermission()), &permStr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "permission: %v", err)
	}
	perm, err := strconv.ParseInt(permStr, 10, 32)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "permission: %v", err)
	}
	if s.callsFile != "" {
		s.mu.Lock()
		f, err := os.OpenFile(s.callsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s\n", attrs["csi.storage.k8s.io/pod.namespace"], attrs["csi.storage.k8s.io/pod.name"])
			f.Close()
		}
		s.mu.Unlock()
	}
	if d, ok := attrs["delayMs"]; ok {
		ms, _ := strconv.Atoi(d)
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if m, ok := attrs["mode"]; ok {
		perm, _ = strconv.ParseInt(m, 10, 64)
	}
	objects := map[string]string{}
	if err := json.Unmarshal([]byte(attrs["objects"]), &objects); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "parameter objects: %v", err)
	}
	paths := make([]string, 0, len(objects))
	for p := range objects {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	resp := &v1alpha1.MountResponse{}
	for _, p := range paths {
		src := objects[p]
		if strings.Contains(src, "/") {
			return nil, status.Errorf(codes.InvalidArgument, "source %q must be a plain file name", src)
		}
		data, err := os.ReadFile(filepath.Join(s.root, src))
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "object %q: %v", src, err)
		}
		sum := sha256.Sum256(data)
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: p, Version: hex.EncodeToString(sum[:8])})
		if attrs["writeSelf"] == "true" {
			full := filepath.Join(req.GetTargetPath(), p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return nil, status.Errorf(codes.Internal, "mkdir: %v", err)
			}
			if err := os.WriteFile(full, data, os.FileMode(perm)); err != nil {
				return nil, status.Errorf(codes.Internal, "write: %v", err)
			}
			continue
		}
		resp.Files = append(resp.Files, &v1alpha1.File{Path: p, Mode: int32(perm), Contents: data})
	}
	if attrs["echoIdentity"] == "true" {
		keys := make([]string, 0, len(secrets))
		for k := range secrets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		id := fmt.Sprintf("namespace=%s serviceAccount=%s", attrs["csi.storage.k8s.io/pod.namespace"], attrs["csi.storage.k8s.io/serviceAccount.name"])
		for _, k := range keys {
			id += fmt.Sprintf(" %s=%s", k, secrets[k])
		}
		idSum := sha256.Sum256([]byte(id))
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: "identity", Version: hex.EncodeToString(idSum[:8])})
		resp.Files = append(resp.Files, &v1alpha1.File{Path: "identity", Mode: int32(perm), Contents: []byte(id)})
	}
	if attrs["echoTokens"] == "true" {
		tok := attrs["csi.storage.k8s.io/serviceAccount.tokens"]
		sum := sha256.Sum256([]byte(tok))
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: "tokens", Version: hex.EncodeToString(sum[:8])})
		resp.Files = append(resp.Files, &v1alpha1.File{Path: "tokens", Mode: int32(perm), Contents: []byte(tok)})
	}
	if attrs["writeSelf"] == "true" && attrs["symlinks"] != "" {
		links := map[string]string{}
		if err := json.Unmarshal([]byte(attrs["symlinks"]), &links); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "parameter symlinks: %v", err)
		}
		for l, t := range links {
			if err := os.Symlink(t, filepath.Join(req.GetTargetPath(), l)); err != nil {
				return nil, status.Errorf(codes.Internal, "symlink: %v", err)
			}
		}
	}
	return resp, nil
}

func main() {
	endpoint := flag.String("endpoint", "", "unix socket path to listen on")
	root := flag.String("root-dir", "", "directory holding the object files")
	calls := flag.String("calls-file", "", "append one line per Mount call to this file")
	flag.Parse()
	if *endpoint == "" || *root == "" {
		log.Fatal("--endpoint and --root-dir are required")
	}
	_ = os.Remove(*endpoint)
	lis, err := net.Listen("unix", *endpoint)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	v1alpha1.RegisterCSIDriverProviderServer(srv, &server{root: *root, callsFile: *calls})
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		srv.GracefulStop()
	}()
	log.Printf("ssc-testprovider listening on %s", *endpoint)
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
