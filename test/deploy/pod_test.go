package deploy

import (
	"crypto/rsa"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/chattoken/chattoken/internal/testkeys"
)

// Key file names as `chattoken keygen` writes them: the signing key and one
// published ahead of its turn (rotation step 1).
const (
	signingKeyName = "20261123T164500Z.pem"
	nextKeyName    = "20261124T164500Z.next.pem"
)

// podKeys are the keys put into the Secret volume.
type podKeys struct {
	signing, next *rsa.PrivateKey
}

// kubeletDataDir is the timestamped directory the kubelet's atomic writer
// fills; "..data" points at it and every item is a symlink through "..data".
const kubeletDataDir = "..2026_11_24_16_45_00.000000001"

// writePodVolumes lays out, under root, the chattoken container's volume
// mounts as the kubelet does for Secret and ConfigMap volumes: the items in a
// timestamped directory, a "..data" link to it, and one symlink per item, with
// the volume's defaultMode (or the item's mode). Owned by root and group
// fsGroup when chown is set, as the kubelet does with fsGroup. The Secret gets
// two fresh keys, a signing one and a ".next.pem" one.
func writePodVolumes(t *testing.T, k *kube, root string, chown bool) podKeys {
	t.Helper()
	keys := podKeys{signing: testkeys.New(), next: testkeys.New()}
	spec := k.deployment.Spec.Template.Spec
	gid := -1
	if chown && spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil {
		gid = int(*spec.SecurityContext.FSGroup)
	}
	for _, m := range k.container(t).VolumeMounts {
		vol := volumeNamed(t, k, m.Name)
		type item struct {
			path string
			data []byte
			mode int32
		}
		var items []item
		var defaultMode *int32
		switch {
		case vol.Secret != nil:
			defaultMode = vol.Secret.DefaultMode
			items = []item{
				{signingKeyName, testkeys.PEM(keys.signing), -1},
				{nextKeyName, testkeys.PEM(keys.next), -1},
			}
		case vol.ConfigMap != nil:
			defaultMode = vol.ConfigMap.DefaultMode
			cm := k.configMaps[vol.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("volume %s names ConfigMap %q, which %s does not define", vol.Name, vol.ConfigMap.Name, k.name)
			}
			if len(vol.ConfigMap.Items) == 0 {
				for key, v := range cm.Data {
					items = append(items, item{key, []byte(v), -1})
				}
			}
			for _, it := range vol.ConfigMap.Items {
				v, ok := cm.Data[it.Key]
				if !ok {
					t.Fatalf("volume %s projects key %q, which ConfigMap %s lacks", vol.Name, it.Key, cm.Name)
				}
				mode := int32(-1)
				if it.Mode != nil {
					mode = *it.Mode
				}
				items = append(items, item{it.Path, []byte(v), mode})
			}
		default:
			t.Fatalf("volume %s: only Secret and ConfigMap volumes are laid out by this test", vol.Name)
		}
		if m.SubPath != "" {
			t.Fatalf("volume mount %s uses subPath, which the kubelet never updates", m.Name)
		}
		dir := filepath.Join(root, m.MountPath)
		data := filepath.Join(dir, kubeletDataDir)
		mkdir(t, data, gid)
		mkdir(t, dir, gid)
		if err := os.Symlink(kubeletDataDir, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			mode := int32(0o644) // the kubelet's default
			if defaultMode != nil {
				mode = *defaultMode
			}
			if it.mode >= 0 {
				mode = it.mode
			}
			file := filepath.Join(data, it.path)
			mkdir(t, filepath.Dir(file), gid)
			if err := os.WriteFile(file, it.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if gid >= 0 {
				if err := os.Chown(file, 0, gid); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(file, os.FileMode(mode)); err != nil {
				t.Fatal(err)
			}
			top, _, _ := strings.Cut(it.path, "/")
			if _, err := os.Lstat(filepath.Join(dir, top)); os.IsNotExist(err) {
				if err := os.Symlink(path.Join("..data", top), filepath.Join(dir, top)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return keys
}

func mkdir(t *testing.T, dir string, gid int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
}

func volumeNamed(t *testing.T, k *kube, name string) *corev1.Volume {
	t.Helper()
	vs := k.deployment.Spec.Template.Spec.Volumes
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	t.Fatalf("volume mount %s has no volume of that name", name)
	return nil
}

// mountOf returns the container's volume mount that holds the absolute path p.
func mountOf(c *corev1.Container, p string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if within(p, c.VolumeMounts[i].MountPath) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	if !path.IsAbs(p) || !path.IsAbs(dir) {
		return false
	}
	rel, err := filepath.Rel(path.Clean(dir), path.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
