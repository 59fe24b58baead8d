package sim

// catalogPackage is a package of the simulated fleet with its hidden
// per-package effect and the roles that install it ("" means every host).
type catalogPackage struct {
	name, source string
	roles        []string
	baseEffect   float64 // designated riskier or safer packages
	reboot       bool
	weight       int // how often it gets updates
	effect       float64
}

// Roles of the simulated fleet.
func roles() []string { return []string{"web", "db", "lb", "cache", "app", "worker"} }

func catalog() []catalogPackage {
	return []catalogPackage{
		{name: "linux-image-amd64", source: "linux", reboot: true, weight: 6},
		{name: "libc6", source: "glibc", weight: 2},
		{name: "libssl3", source: "openssl", weight: 5},
		{name: "openssh-server", source: "openssh", weight: 2},
		{name: "systemd", source: "systemd", weight: 2, baseEffect: 0.3},
		{name: "curl", source: "curl", weight: 3},
		{name: "bind9-libs", source: "bind9", weight: 2},
		{name: "ca-certificates", source: "ca-certificates", weight: 1, baseEffect: -1},
		{name: "tzdata", source: "tzdata", weight: 3, baseEffect: -1},
		{name: "libxml2", source: "libxml2", weight: 3},
		{name: "sudo", source: "sudo", weight: 1},
		{name: "vim", source: "vim", weight: 3},
		{name: "git", source: "git", roles: []string{"app", "worker"}, weight: 2},
		{name: "nginx", source: "nginx", roles: []string{"web", "lb"}, weight: 3, baseEffect: 1.2},
		{name: "haproxy", source: "haproxy", roles: []string{"lb"}, weight: 2},
		{name: "apache2", source: "apache2", roles: []string{"web"}, weight: 2},
		{name: "postgresql-15", source: "postgresql-15", roles: []string{"db"}, weight: 3, baseEffect: 1.0},
		{name: "mariadb-server", source: "mariadb", roles: []string{"db"}, weight: 2},
		{name: "redis-server", source: "redis", roles: []string{"cache"}, weight: 2},
		{name: "memcached", source: "memcached", roles: []string{"cache"}, weight: 1},
		{name: "python3.11", source: "python3.11", roles: []string{"app", "worker"}, weight: 3},
		{name: "php8.2", source: "php8.2", roles: []string{"web", "app"}, weight: 3, baseEffect: 0.6},
		{name: "openjdk-17-jre", source: "openjdk-17", roles: []string{"app", "worker"}, weight: 2},
		{name: "nodejs", source: "nodejs", roles: []string{"app"}, weight: 2},
		{name: "imagemagick", source: "imagemagick", roles: []string{"worker"}, weight: 2},
		{name: "exim4", source: "exim4", roles: []string{"worker"}, weight: 1},
	}
}

func (p catalogPackage) installedOn(role string) bool {
	if len(p.roles) == 0 {
		return true
	}
	for _, r := range p.roles {
		if r == role {
			return true
		}
	}
	return false
}
