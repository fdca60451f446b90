# Ansible: the controller venv, lint of roles/playbooks/molecule, the fail-fast tests, molecule on the local cluster.
# The Ansible tools live in a venv of their own ($CACHE/venv-ansible, from requirements-ansible.txt): ansible-lint
# and molecule pin ansible-core and ansible-compat, which must not constrain the project's .venv.
ANSIBLE_VENV ?= $(CACHE)/venv-ansible
ANSIBLE_BIN := $(ANSIBLE_VENV)/bin
ANSIBLE_ENV := PATH="$(ANSIBLE_BIN):$(CACHE)/bin:$$PATH" ANSIBLE_CONFIG=$(ROOT)/ansible.cfg
KUBECONFIG_LOCAL ?= /var/lib/ssc-devcluster/admin.kubeconfig
CLUSTER_LOCK ?= /tmp/ssc-cluster-driver.lock
# The Ansible content yamllint checks (charts and other YAML have their own linters).
ANSIBLE_YAML := roles playbooks molecule inventory requirements.yml .yamllint .ansible-lint

.PHONY: ansible-venv test-ansible-lint test-ansible test-ansible-cluster test-molecule ansible-install ansible-uninstall

$(ANSIBLE_VENV)/.installed: requirements-ansible.txt
	python3 -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_BIN)/pip install --quiet --upgrade pip
	$(ANSIBLE_BIN)/pip install --quiet -r requirements-ansible.txt
	touch $@

ansible-venv: $(ANSIBLE_VENV)/.installed

# yamllint, ansible-lint (production profile), the pinned collection versions, molecule syntax of both scenarios.
test-ansible-lint: ansible-venv
	cd $(ROOT) && $(ANSIBLE_ENV) hack/ansible/check-collections.sh
	cd $(ROOT) && $(ANSIBLE_ENV) yamllint --strict $(ANSIBLE_YAML)
	cd $(ROOT) && $(ANSIBLE_ENV) ansible-lint
	cd $(ROOT) && $(ANSIBLE_ENV) ansible-playbook --syntax-check playbooks/install.yml playbooks/uninstall.yml playbooks/demo.yml
	cd $(ROOT) && $(ANSIBLE_ENV) molecule syntax -s default
	cd $(ROOT) && $(ANSIBLE_ENV) molecule syntax -s kind
	cd $(ROOT) && $(ANSIBLE_ENV) ANSIBLE_ROLES_PATH=$(ROOT)/roles MOLECULE_PROJECT_DIRECTORY=$(ROOT) \
	  MOLECULE_EPHEMERAL_DIRECTORY=/tmp MOLECULE_INSTANCE_CONFIG=/tmp/instance_config.yml \
	  ansible-playbook --syntax-check -e @playbooks/vars/local-emulators.yml -e @molecule/default/vars.yml \
	  $(filter-out %/vars.yml %/molecule.yml,$(wildcard molecule/default/*.yml)) $(filter-out %/vars.yml %/molecule.yml,$(wildcard molecule/kind/*.yml))

# Bad input refused by the argument specs and fail-fast preflight; needs no cluster.
test-ansible: ansible-venv
	cd $(ROOT) && $(ANSIBLE_ENV) $(ANSIBLE_BIN)/python -m pytest -p no:cacheprovider -W ignore::pytest.PytestConfigWarning -m "ansible and not cluster" tests/ansible

# On the local cluster, without the operator (marker `ansible and cluster`): the driver role in helm mode (install,
# second run changed=0), the ordered uninstall refusing and then stopping a Deployment, StatefulSet, DaemonSet and
# CronJob (with its Job) that mount a secret from moto, and the opt-in CRD/SecretProviderClass removal. Holds
# /tmp/ssc-cluster-driver.lock itself (tests/charts/chartcluster.py driver_lock) while the driver is installed;
# leaves the cluster up.
test-ansible-cluster: ansible-venv helm images emulators-up
	cd $(ROOT) && $(ANSIBLE_ENV) $(ANSIBLE_BIN)/python -m pytest -p no:cacheprovider -W ignore::pytest.PytestConfigWarning \
	  -m "ansible and cluster" --durations=10 tests/ansible

ansible-install: ansible-venv helm
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) ansible-playbook playbooks/install.yml \
	  -e @playbooks/vars/local-emulators.yml

ansible-uninstall: ansible-venv helm
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) ansible-playbook playbooks/uninstall.yml \
	  -e secrets_store_csi_uninstall_stop_workloads=true

# The whole lifecycle on the local cluster (create = cluster-up + images, destroy = cluster-down), holding the
# cluster-wide driver lock. MOLECULE_DESTROY=never keeps a shared cluster up afterwards; `molecule reset` first, so
# a kept instance is prepared again.
MOLECULE_DESTROY ?= always
test-molecule: ansible-venv helm
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) flock $(CLUSTER_LOCK) \
	  sh -c 'molecule reset -s default && molecule test -s default --destroy=$(MOLECULE_DESTROY)'

# `make demo`: everything from a fresh machine: cluster, images, emulators, install.yml (AWS provider pointing at
# moto on the node address), then demo.yml mounts a secret from the emulator into a pod and prints it.
# Leaves the stack running; `make demo-clean` removes the demo namespace and runs uninstall.yml.
.PHONY: demo-clean
demo: ansible-venv helm cluster-up images emulators-up
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) ansible-playbook playbooks/install.yml \
	  -e @playbooks/vars/local-emulators.yml
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) ansible-playbook playbooks/demo.yml
	@echo "clean up: make demo-clean"

demo-clean: ansible-venv helm
	$(CACHE)/bin/kubectl --kubeconfig $(KUBECONFIG_LOCAL) delete namespace ssc-demo --ignore-not-found --wait
	cd $(ROOT) && $(ANSIBLE_ENV) KUBECONFIG=$(KUBECONFIG_LOCAL) ansible-playbook playbooks/uninstall.yml
