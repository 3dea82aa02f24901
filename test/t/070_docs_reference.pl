# Copyright (c) pg_uring authors
#
# docs/reference.md against the catalog of an installed extension: every
# configuration parameter (pg_settings), every function (pg_proc) and every
# column of every view and table of the extension is documented there
# exactly once, and nothing is documented that the catalog does not have.
# The parameter table must also give each parameter's type, default,
# limits, unit and context as pg_settings does; a function's heading its
# input arguments, in order; a view's table each column's type.

use strict;
use warnings;

use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgUringTest;

my $doc = "$FindBin::Bin/../../docs/reference.md";
open(my $fh, '<', $doc) or BAIL_OUT("cannot open $doc: $!");
my @lines = <$fh>;
close($fh);
chomp(@lines);

# ---------------------------------------------------------- the document --
# The level-2 section of each line, and what each section documents.
my (%guc_doc, %func_doc, %rel_doc, @dups);
my ($section, $rel) = ('', undef);
for my $l (@lines)
{
	if ($l =~ /^## (.*)$/)
	{
		$section = $1;
		$rel = undef;
		next;
	}
	if ($section eq 'Configuration parameters'
		&& $l =~ /^\| `(pg_uring\.[a-z_]+)` \|(.*)\|\s*$/)
	{
		my $name = $1;
		my @cells = map { s/^\s+|\s+$//gr } split(/\|/, $2);
		push @dups, "parameter $name" if exists $guc_doc{$name};
		$guc_doc{$name} = \@cells;
	}
	elsif ($section eq 'Functions' && $l =~ /^### `(\w+)\((.*?)\)\s*RETURNS/)
	{
		my ($name, $args) = ($1, $2);
		push @dups, "function $name" if exists $func_doc{$name};
		# the input arguments' names, in order (not OUT, not "…")
		my @in;
		for my $a (split /,\s*/, $args)
		{
			next if $a =~ /^OUT\s/ || $a !~ /\S/;
			push @in, (split /\s+/, $a)[0];
		}
		$func_doc{$name} = \@in;
	}
	elsif (($section eq 'Views' || $section eq 'Tables')
		&& $l =~ /^### `(\w+)`\s*$/)
	{
		$rel = $1;
		push @dups, "relation $rel" if exists $rel_doc{$rel};
		$rel_doc{$rel} = [];
	}
	elsif (defined $rel && $l =~ /^\| `(\w+)` \| ([\w\[\]]+) \|/)
	{
		my ($col, $type) = ($1, $2);
		push @dups, "column $rel.$col"
		  if grep { $_->[0] eq $col } @{ $rel_doc{$rel} };
		push @{ $rel_doc{$rel} }, [ $col, $type ];
	}
}
is(join(', ', @dups), '', 'nothing is documented twice');
cmp_ok(scalar(keys %guc_doc), '>=', 20, 'the document lists the parameters');
cmp_ok(scalar(keys %func_doc), '>=', 15, 'the document lists the functions');

# ----------------------------------------------------------- the catalog --
my $node = pgu_node('docs');

# What the catalog has is documented, and what is documented the catalog has.
sub same_names
{
	my ($what, $cat, $doc) = @_;
	is(join(' ', sort grep { !exists $doc->{$_} } keys %$cat),
		'', "every $what in the catalog is documented");
	is(join(' ', sort grep { !exists $cat->{$_} } keys %$doc),
		'', "every documented $what is in the catalog");
	return;
}

sub rows
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', $sql);
	return map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out;
}

# Parameters: name, type, default, range, unit, context.
my %guc_cat;
for my $r (rows(
		"SELECT name, vartype, boot_val, coalesce(min_val, ''), coalesce(max_val, ''),
		        coalesce(unit, ''), context, coalesce(array_to_string(enumvals, ', '), '')
		   FROM pg_settings WHERE name LIKE 'pg\\_uring.%' ORDER BY name"))
{
	my ($name, $type, $def, $min, $max, $unit, $ctx, $enum) = @$r;
	my $range = $type eq 'enum' ? $enum : ($min ne '' ? "$min – $max" : '');
	$guc_cat{$name} = [ $type, "`$def`", $range, $unit, $ctx ];
}
cmp_ok(scalar(keys %guc_cat), '>=', 20, 'pg_settings has the parameters');
same_names('parameter', \%guc_cat, \%guc_doc);
for my $name (sort keys %guc_cat)
{
	next unless $guc_doc{$name};
	my @doc = @{ $guc_doc{$name} }[ 0 .. 4 ];
	$doc[4] =~ s/\s*\(.*\)$//;    # "postmaster (restart)"
	is( join(' | ', map { $_ // '' } @doc),
		join(' | ', @{ $guc_cat{$name} }),
		"$name: type, default, range, unit and context as pg_settings has them");
}

# Functions: name and input argument names, in order.
my %func_cat;
for my $r (rows(
		"SELECT p.proname,
		        coalesce(array_to_string(ARRAY(
		          SELECT p.proargnames[i]
		            FROM generate_subscripts(p.proargnames, 1) i
		           WHERE p.proargmodes IS NULL OR p.proargmodes[i] IN ('i', 'b', 'v')
		           ORDER BY i), ' '), '')
		   FROM pg_proc p
		   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		                   AND d.deptype = 'e'
		   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_uring'"))
{
	my ($name, $args) = @$r;
	$func_cat{$name} = $args;
}
cmp_ok(scalar(keys %func_cat), '>=', 15, 'pg_proc has the functions');
same_names('function', \%func_cat, \%func_doc);
for my $name (sort keys %func_cat)
{
	next unless $func_doc{$name};
	is(join(' ', @{ $func_doc{$name} }), $func_cat{$name},
		"$name: the input arguments, in order");
}

# Views and tables: columns, in order, with their types.
my %rel_cat;
for my $r (rows(
		"SELECT c.relname, a.attname,
		        CASE WHEN t.typelem <> 0 AND t.typlen = -1
		             THEN (SELECT e.typname FROM pg_type e WHERE e.oid = t.typelem) || '[]'
		             ELSE t.typname END
		   FROM pg_class c
		   JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
		                   AND d.deptype = 'e'
		   JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'pg_uring'
		   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		   JOIN pg_type t ON t.oid = a.atttypid
		  WHERE c.relkind IN ('v', 'r')
		  ORDER BY c.relname, a.attnum"))
{
	my ($relname, $col, $type) = @$r;
	push @{ $rel_cat{$relname} }, [ $col, $type ];
}
is( join(' ', sort keys %rel_cat),
	'pg_uring_autoprewarm_list pg_uring_inflight pg_uring_latency '
	  . 'pg_uring_progress pg_uring_stats pg_uring_status pg_uring_waits',
	'the extension\'s views and table');
same_names('view or table', \%rel_cat, \%rel_doc);
for my $relname (sort keys %rel_cat)
{
	next unless $rel_doc{$relname};
	is( join(', ', map { "$_->[0] $_->[1]" } @{ $rel_doc{$relname} }),
		join(', ', map { "$_->[0] $_->[1]" } @{ $rel_cat{$relname} }),
		"$relname: every column, in order, with its type");
}

$node->stop;
done_testing();
